"""The labelled-note generator: exact gold spans, every kind, and the hard cases."""

from __future__ import annotations

import re

import pytest

from dxkit.deid.synthetic import LabelledNote, clinical_segments, generate_labelled_notes
from dxkit.deid.synthetic_values import romanise
from dxkit.deid.types import PhiKind
from dxkit.errors import InputError


@pytest.fixture(scope="module")
def notes() -> list[LabelledNote]:
    return generate_labelled_notes(200, seed=7)


def _texts(notes: list[LabelledNote], kind: PhiKind) -> list[str]:
    return [n.text[s.start : s.end] for n in notes for s in n.spans if s.kind is kind]


def _resident_id_ok(number: str) -> bool:
    """ISO 7064 MOD 11-2, as GB 11643-1999 defines the check character."""
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return False
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17]


def test_same_seed_same_notes_and_other_seed_other_notes() -> None:
    assert generate_labelled_notes(6, seed=3) == generate_labelled_notes(6, seed=3)
    assert generate_labelled_notes(6, seed=3) != generate_labelled_notes(6, seed=4)


def test_languages_alternate_and_can_be_restricted(notes: list[LabelledNote]) -> None:
    assert sum(n.language == "en" for n in notes) == 100
    assert sum(n.language == "zh" for n in notes) == 100
    only_zh = generate_labelled_notes(4, seed=1, languages=("zh",))
    assert {n.language for n in only_zh} == {"zh"}
    assert all(re.search("[\u4e00-\u9fff]", n.text) for n in only_zh)


def test_spans_cover_exactly_the_value(notes: list[LabelledNote]) -> None:
    for note in notes:
        ends = [0]
        for span in note.spans:
            value = note.text[span.start : span.end]
            assert value and value == value.strip(), value
            assert value[0] not in ",;:.)" and value[-1] not in ",;:.(", value
            assert span.start >= ends[-1], "gold spans overlap or are unsorted"
            ends.append(span.end)
    labels = ("MRN", "SSN", "病历号", "Dr.", "先生", "医生")
    assert not any(v.startswith(labels) for n in notes for v in _texts([n], PhiKind.MRN))


def test_every_kind_occurs_in_both_languages(notes: list[LabelledNote]) -> None:
    for language in ("en", "zh"):
        chosen = [n for n in notes if n.language == language]
        kinds = {s.kind for n in chosen for s in n.spans}
        expected = set(PhiKind) - ({PhiKind.SSN} if language == "zh" else set())
        assert kinds >= expected, expected - kinds
    assert {s.kind for n in notes for s in n.spans} == set(PhiKind)


def test_resident_ids_carry_a_correct_check_digit(notes: list[LabelledNote]) -> None:
    ids = _texts(notes, PhiKind.CN_RESIDENT_ID)
    assert len(ids) > 20
    assert all(_resident_id_ok(i) for i in ids)
    assert not _resident_id_ok("110105194912310020")  # a wrong check digit is caught


def test_dea_numbers_are_valid(notes: list[LabelledNote]) -> None:
    deas = [v for v in _texts(notes, PhiKind.LICENSE) if re.fullmatch(r"[A-Z]{2}\d{7}", v)]
    assert deas
    for dea in deas:
        d = [int(c) for c in dea[2:]]
        assert (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


def test_protected_text_never_overlaps_gold(notes: list[LabelledNote]) -> None:
    for note in notes:
        assert note.protected and clinical_segments(note) == list(note.protected)
        for start, end in note.protected:
            assert not any(s.start < end and start < s.end for s in note.spans)
    protected = {n.text[a:b] for n in notes for a, b in n.protected}
    assert {"BP 128/82 mmHg", "pain 7/10", "血压 130/85 mmHg", "空腹血糖 7.8 mmol/L"} <= protected


def test_bare_years_and_young_ages_are_not_labelled(notes: list[LabelledNote]) -> None:
    assert not any(re.fullmatch(r"\d{4}", v) for v in _texts(notes, PhiKind.DATE))
    bare_years = 0
    for note in notes:
        for match in re.finditer(r"(?:in |died in |，)((?:19|20)\d\d)(?=[;。.,年 ])", note.text):
            bare_years += 1
            assert not any(s.start <= match.start(1) < s.end for s in note.spans)
    assert bare_years > 20
    assert all(int(v) > 89 for v in _texts(notes, PhiKind.AGE))
    young = [n.text[a:b] for n in notes for a, b in n.protected]
    young_ages = [
        int(m) for t in young for m in re.findall(r"^(?:age |aged )?(\d+)(?:岁|-year)?", t)
    ]
    assert young_ages and all(age <= 89 for age in young_ages)


def test_month_alone_is_a_date(notes: list[LabelledNote]) -> None:
    dates = set(_texts(notes, PhiKind.DATE))
    assert dates & {"January", "May", "June", "October"}
    assert any(re.fullmatch(r"\d{1,2}月", d) for d in dates)
    assert any(re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", d) for d in dates)


def test_every_batch_has_word_like_names_beside_the_same_word(notes: list[LabelledNote]) -> None:
    for language in ("en", "zh"):
        batch = generate_labelled_notes(12, seed=11, languages=(language,))
        clashes = 0
        for note in batch:
            names = {note.text[s.start : s.end] for s in note.spans if s.kind is PhiKind.NAME}
            words = [note.text[a:b].lower() for a, b in note.protected]
            # English: the whole name is the word; Chinese: a two-character part of it is.
            parts = (
                names if language == "en" else {w[i : i + 2] for w in names for i in range(len(w))}
            )
            clashes += any(w.lower() in p for w in parts for p in words if len(w) > 1)
        assert clashes >= 3, language


def test_identifiers_touch_punctuation_and_chinese_text(notes: list[LabelledNote]) -> None:
    zh = [n for n in notes if n.language == "zh"]
    unspaced = [n for n in zh for s in n.spans if s.start and not n.text[s.start - 1].isspace()]
    assert len(unspaced) > 50
    assert any(re.fullmatch(r"1[3-9]\d{9}", v) for v in _texts(zh, PhiKind.PHONE))
    assert any(
        re.fullmatch(r"[\u4e00-\u9fff][A-Z][A-Z0-9]\d{4}", v) for v in _texts(zh, PhiKind.VEHICLE)
    )
    assert any(n.text[s.end : s.end + 1] in ".,;)\n" for n in notes for s in n.spans)


def test_names_from_other_locales_are_romanised() -> None:
    assert romanise("Łukasz Zięcik") == "Lukasz Ziecik"
    assert romanise("Nguyễn Thị Hạnh") == "Nguyen Thi Hanh"


@pytest.mark.parametrize("bad", [0, -3, True, 2.5, 10**9])
def test_bad_counts_are_refused(bad: object) -> None:
    with pytest.raises(InputError, match="number of notes: expected an integer from 1"):
        generate_labelled_notes(bad)  # type: ignore[arg-type]


def test_unknown_language_is_refused() -> None:
    with pytest.raises(InputError, match=r"note languages: .*found 'fr'"):
        generate_labelled_notes(3, languages=("en", "fr"))
    with pytest.raises(InputError, match="found none"):
        generate_labelled_notes(3, languages=())
