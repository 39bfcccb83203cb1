"""De-identification metrics on tiny hand-built notes with known answers."""

from __future__ import annotations

import json

import pytest

from dxkit.deid.metrics import COLUMNS, TOKEN, Counts, evaluate_spans, score_detector
from dxkit.deid.synthetic import LabelledNote, generate_labelled_notes
from dxkit.deid.types import PhiKind, PhiSpan
from dxkit.errors import InputError

N, D, M = PhiKind.NAME, PhiKind.DATE, PhiKind.MRN
# "Seen by John Smith on 3/14. MRN 00482913. BP 128/82 mmHg."
TEXT = "Seen by John Smith on 3/14. MRN 00482913. BP 128/82 mmHg."
NOTE = LabelledNote(
    TEXT,
    (PhiSpan(8, 18, N), PhiSpan(22, 26, D), PhiSpan(32, 40, M)),
    "en",
    protected=((42, 56),),
)


def test_fixture_offsets_point_at_the_values() -> None:
    assert [s.text(TEXT) for s in NOTE.spans] == ["John Smith", "3/14", "00482913"]
    assert TEXT[42:56] == "BP 128/82 mmHg"


def test_perfect_prediction_scores_one_everywhere() -> None:
    scores = evaluate_spans([NOTE], [NOTE.spans])
    for level in (scores.micro.entity, scores.micro.token):
        assert (level.precision, level.recall, level.f1) == (1.0, 1.0, 1.0)
    assert scores.micro.typed_recall == 1.0
    assert scores.protected_touch_rate == 0.0
    assert scores.support == {
        **{k.value: 0 for k in PhiKind},
        "NAME": 1,
        "DATE": 1,
        "MRN": 1,
        "ALL": 3,
    }


def test_missing_one_of_two_entities_halves_recall() -> None:
    scores = evaluate_spans([NOTE], [[PhiSpan(8, 18, N), PhiSpan(32, 40, M)]])
    entity = scores.micro.entity
    assert (entity.gold, entity.found, entity.precision) == (3, 2, 1.0)
    assert entity.recall == pytest.approx(2 / 3)
    assert entity.f1 == pytest.approx(0.8)
    assert scores.kind(D).entity.recall == 0.0
    assert scores.kind(D).entity.precision is None  # nothing predicted as DATE
    assert scores.kind(D).entity.f1 == 0.0


def test_false_positive_lowers_precision_of_its_kind() -> None:
    # "BP 128/82" predicted as a date: wrong, and it damages protected text.
    pred = [*NOTE.spans, PhiSpan(45, 51, D)]
    scores = evaluate_spans([NOTE], [pred])
    assert scores.micro.entity.precision == pytest.approx(3 / 4)
    assert scores.kind(D).entity.precision == 0.5
    assert scores.kind(N).entity.precision == 1.0
    assert scores.micro.entity.recall == 1.0
    assert scores.kind(D).token.precision == 0.5  # 3, 14 right; 128, 82 wrong
    assert (scores.protected_touched, scores.protected_total) == (1, 1)


def test_partial_cover_misses_the_entity_but_earns_token_credit() -> None:
    scores = evaluate_spans([NOTE], [[PhiSpan(8, 12, N)]])  # "John" of "John Smith"
    name = scores.kind(N)
    assert name.entity.recall == 0.0 and name.entity.precision == 1.0
    assert name.token.recall == 0.5 and name.token.precision == 1.0


def test_spans_split_at_a_space_still_cover_the_entity() -> None:
    scores = evaluate_spans([NOTE], [[PhiSpan(8, 12, N), PhiSpan(13, 18, N)]])
    assert scores.kind(N).entity.recall == 1.0
    assert scores.kind(N).entity.precision == 1.0


def test_wrong_kind_counts_for_recall_but_not_typed_recall() -> None:
    scores = evaluate_spans([NOTE], [[PhiSpan(32, 40, PhiKind.ACCOUNT)]])
    assert scores.kind(M).entity.recall == 1.0
    assert scores.kind(M).typed_recall == 0.0
    assert scores.kind(PhiKind.ACCOUNT).entity.precision == 1.0
    assert scores.kind(PhiKind.ACCOUNT).entity.recall is None


def test_chinese_is_tokenised_per_character() -> None:
    assert TOKEN.findall("BP 128/82 患者张伟，age45") == [
        "BP",
        "128",
        "82",
        "患",
        "者",
        "张",
        "伟",
        "age45",
    ]
    note = LabelledNote("患者张伟入院", (PhiSpan(2, 4, N),), "zh")
    scores = evaluate_spans([note], [[PhiSpan(2, 3, N)]])
    assert scores.kind(N).token.recall == 0.5
    assert scores.kind(N).entity.recall == 0.0
    widened = evaluate_spans([note], [[PhiSpan(1, 4, N)]])  # "者张伟": one extra character
    assert widened.kind(N).token.precision == pytest.approx(2 / 3)
    assert widened.kind(N).entity.recall == 1.0


def test_protected_touch_rate_counts_segments_touched() -> None:
    note = LabelledNote("Hb 13.2 g/dL, INR 2.5", (), "en", protected=((0, 12), (14, 21)))
    scores = evaluate_spans([note], [[PhiSpan(18, 21, PhiKind.ID)]])
    assert scores.protected_touch_rate == 0.5
    assert scores.micro.entity.precision == 0.0
    assert scores.micro.entity.recall is None


def test_rows_and_json_show_undefined_values_without_crashing() -> None:
    scores = evaluate_spans([NOTE], [[PhiSpan(8, 18, N)]])
    rows = scores.rows()
    assert [r[0] for r in rows] == ["NAME", "DATE", "MRN", "ALL"]
    assert rows[1] == ("DATE", "1", "0", "-", "0.000", "0.000", "0.000", "-", "0.000", "0.000")
    assert len(scores.rows(include_empty=True)) == len(PhiKind) + 1
    assert all(len(r) == len(COLUMNS) for r in rows)
    data = json.loads(json.dumps(scores.to_dict()))
    assert data["per_kind"]["DATE"]["ent_P"] is None
    assert data["micro"]["gold"] == 3 and data["notes"] == 1
    assert "protected segments touched: 0/1" in scores.table()


def test_counts_add_and_f1_is_zero_when_undefined() -> None:
    assert Counts(1, 1, 2, 1) + Counts(1, 0, 0, 0) == Counts(2, 1, 2, 1)
    assert Counts().f1 == 0.0 and Counts().precision is None and Counts().recall is None


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(InputError, match=r"one list of spans per labelled note \(1\)"):
        evaluate_spans([NOTE], [])
    with pytest.raises(InputError, match="found a NAME span ending at character 99"):
        evaluate_spans([NOTE], [[PhiSpan(90, 99, N)]])


def test_score_detector_on_generated_notes() -> None:
    notes = generate_labelled_notes(20, seed=5)
    gold = {note.text: note.spans for note in notes}
    perfect = score_detector(lambda text: gold[text], notes)
    assert perfect.micro.entity.f1 == 1.0 and perfect.micro.token.f1 == 1.0
    assert perfect.protected_touch_rate == 0.0 and perfect.notes == 20
    silent = score_detector(lambda text: [], notes)
    assert silent.micro.entity.recall == 0.0 and silent.micro.entity.precision is None
