"""The evaluation module: target verdicts, the Presidio peer offline, over-redaction counts."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Sequence
from typing import Any

import pytest

from dxkit.deid.evaluation import (
    EvaluationReport,
    compare_detectors,
    evaluate_detector,
    evaluate_notes,
    over_redaction,
    presidio_baseline,
    targets,
)
from dxkit.deid.metrics import evaluate_spans
from dxkit.deid.synthetic import LabelledNote, generate_labelled_notes
from dxkit.deid.types import PATTERNED_KINDS, PhiKind, PhiSpan
from dxkit.errors import InputError

N_NOTES = 30
SEED = 7


@pytest.fixture(scope="module")
def notes() -> list[LabelledNote]:
    return generate_labelled_notes(N_NOTES, seed=SEED)


def _oracle(notes: Sequence[LabelledNote]) -> Any:
    """A perfect detector: looks each text up and returns its gold spans."""
    gold = {note.text: list(note.spans) for note in notes}
    return lambda text: gold[text]


def test_perfect_detector_meets_every_target(notes: list[LabelledNote]) -> None:
    report = evaluate_notes(_oracle(notes), notes, SEED)
    assert report.passed
    assert (report.notes, report.seed) == (N_NOTES, SEED)
    assert report.seconds > 0 and report.ms_per_note > 0 and report.chars_per_second > 0
    assert report.targets["NAME recall"] == (1.0, 0.95, True)
    assert report.targets["micro precision"] == (1.0, 0.90, True)
    present = {s.kind for note in notes for s in note.spans} & PATTERNED_KINDS
    assert {f"{k.value} recall" for k in present} <= set(report.targets)


def test_empty_detector_fails_with_zero_recall(notes: list[LabelledNote]) -> None:
    report = evaluate_notes(lambda text: [], notes, SEED)
    assert not report.passed
    assert report.targets["DATE recall"] == (0.0, 0.99, False)
    assert report.targets["LOCATION recall"][0] == 0.0
    # nothing predicted: precision is undefined, and undefined does not pass
    assert report.targets["micro precision"] == (None, 0.90, False)
    assert "FAIL  DATE recall 0.000 >= 0.99" in report.render()
    assert "all targets met: no" in report.render()


def test_one_missed_kind_fails_only_its_target(notes: list[LabelledNote]) -> None:
    gold = {note.text: [s for s in note.spans if s.kind is not PhiKind.EMAIL] for note in notes}
    verdicts = targets(evaluate_spans(notes, [gold[note.text] for note in notes]))
    failed = {name for name, (_, _, ok) in verdicts.items() if not ok}
    assert failed == {"EMAIL recall"}


def test_compare_detectors_scores_each_on_the_same_notes(notes: list[LabelledNote]) -> None:
    calls: dict[str, int] = {"oracle": 0, "empty": 0}
    oracle = _oracle(notes)

    def counted(name: str, detect: Any) -> Any:
        def run(text: str) -> list[PhiSpan]:
            calls[name] += 1
            return list(detect(text))

        return run

    reports = compare_detectors(
        {"oracle": counted("oracle", oracle), "empty": counted("empty", lambda t: [])},
        notes,
        SEED,
        block=7,
    )
    assert reports["oracle"].passed and not reports["empty"].passed
    assert calls == {"oracle": N_NOTES + 1, "empty": N_NOTES + 1}  # + one warm-up each
    assert reports["empty"].scores.micro.entity.gold == reports["oracle"].scores.micro.entity.gold


def test_kind_without_gold_has_no_target() -> None:
    note = LabelledNote("Seen by John Smith.", (PhiSpan(8, 18, PhiKind.NAME),), "en")
    verdicts = targets(evaluate_spans([note], [[PhiSpan(8, 18, PhiKind.NAME)]]))
    assert set(verdicts) == {"NAME recall", "micro precision"}


def test_report_is_json_safe(notes: list[LabelledNote]) -> None:
    report = evaluate_notes(_oracle(notes), notes, SEED)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is True and data["notes"] == N_NOTES
    assert data["targets"]["NAME recall"] == {"value": 1.0, "threshold": 0.95, "passed": True}
    assert data["scores"]["micro"]["ent_R"] == 1.0


def test_evaluate_detector_generates_the_seeded_notes() -> None:
    seen: list[str] = []

    def detect(text: str) -> list[PhiSpan]:
        seen.append(text)
        return []

    report = evaluate_detector(detect, n=4, seed=SEED, languages=("zh",))
    assert isinstance(report, EvaluationReport) and report.notes == 4
    expected = [n.text for n in generate_labelled_notes(4, seed=SEED, languages=("zh",))]
    assert seen[1:] == expected  # the first call is the untimed warm-up
    with pytest.raises(InputError, match="note languages"):
        evaluate_detector(detect, n=2, languages=("fr",))


def test_default_detector_meets_targets_on_a_small_batch() -> None:
    report = evaluate_detector(n=N_NOTES, seed=SEED)
    assert report.scores.micro.entity.recall is not None
    assert report.scores.micro.entity.recall > 0.95
    assert report.targets["micro precision"][2]


def test_presidio_baseline_finds_email_and_ssn_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append("network")  # recorded, since a library may swallow the error
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    detect = presidio_baseline()
    text = "Contact: jane.doe@example.org. SSN 536-22-1184. Seen by Mary Jones."
    found = {(s.kind, s.text(text)) for s in detect(text)}
    assert (PhiKind.EMAIL, "jane.doe@example.org") in found
    assert (PhiKind.SSN, "536-22-1184") in found
    assert not any(kind is PhiKind.NAME for kind, _ in found)  # no NER offline
    assert detect("   ") == []
    assert attempts == []


def test_presidio_baseline_spans_do_not_overlap() -> None:
    detect = presidio_baseline()
    spans = detect("Visit https://clinic.example.org/a?b=jane.doe@example.org on 2023-03-14.")
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_over_redaction_counts_a_known_date() -> None:
    text = "Admitted 03/14/2023 with chest pain."

    def detect(doc: str) -> list[PhiSpan]:
        start = doc.find("03/14/2023")
        return [PhiSpan(start, start + 10, PhiKind.DATE)] if start >= 0 else []

    result = over_redaction([text, "No identifiers here."], detect)
    # tokens: Admitted 03 14 2023 with chest pain + No identifiers here = 10
    assert (result["texts"], result["tokens"], result["flagged_tokens"]) == (2, 10, 3)
    assert result["flagged_fraction"] == pytest.approx(0.3)
    assert result["spans"] == 1 and result["spans_per_1000_tokens"] == pytest.approx(100.0)
    assert result["by_kind"] == {"DATE": 1}
    assert result["top"] == {"DATE": [["03/14/2023", 1]]}
    json.dumps(result)


def test_over_redaction_counts_chinese_characters_as_tokens() -> None:
    result = over_redaction(["咳嗽三天"], lambda doc: [])
    assert result["tokens"] == 4 and result["flagged_fraction"] == 0.0
    assert over_redaction([], lambda doc: [])["flagged_fraction"] is None
