"""The detector's own logic: one answer per character, trimmed spans, tags left alone."""

from __future__ import annotations

from itertools import pairwise

import pytest

from dxkit.deid.engine import Detector
from dxkit.deid.spans import resolve_overlaps
from dxkit.deid.synthetic import generate_labelled_notes
from dxkit.deid.types import PhiKind, PhiSpan

K = PhiKind


def _assert_disjoint(spans: list[PhiSpan]) -> None:
    for left, right in pairwise(spans):
        assert left.end <= right.start, (left, right)


def test_same_kind_overlaps_merge_to_their_union() -> None:
    spans = [PhiSpan(3, 9, K.NAME, 0.7), PhiSpan(0, 5, K.NAME, 0.85)]
    assert resolve_overlaps(spans) == [PhiSpan(0, 9, K.NAME, 0.85)]


def test_same_kind_spans_that_only_touch_stay_apart() -> None:
    spans = [PhiSpan(0, 5, K.DATE, 0.9), PhiSpan(5, 8, K.DATE, 0.9)]
    assert resolve_overlaps(spans) == spans


def test_higher_score_wins_and_the_loser_keeps_its_uncovered_part() -> None:
    # the loser is the longer span: only the score can make the date win
    date, name = PhiSpan(0, 10, K.DATE, 0.9), PhiSpan(5, 20, K.NAME, 0.7)
    assert resolve_overlaps([name, date]) == [date, PhiSpan(10, 20, K.NAME, 0.7)]


def test_a_loser_around_the_winner_keeps_both_sides() -> None:
    winner, loser = PhiSpan(4, 6, K.MRN, 0.95), PhiSpan(0, 10, K.ID, 0.6)
    assert resolve_overlaps([loser, winner]) == [
        PhiSpan(0, 4, K.ID, 0.6),
        winner,
        PhiSpan(6, 10, K.ID, 0.6),
    ]


def test_a_loser_inside_the_winner_disappears() -> None:
    winner, loser = PhiSpan(0, 20, K.LOCATION, 0.9), PhiSpan(5, 9, K.NAME, 0.8)
    assert resolve_overlaps([loser, winner]) == [winner]


def test_at_equal_score_the_longer_span_wins() -> None:
    short, long = PhiSpan(0, 4, K.NAME, 0.8), PhiSpan(2, 12, K.LOCATION, 0.8)
    assert resolve_overlaps([short, long]) == [PhiSpan(0, 2, K.NAME, 0.8), long]


def test_resolved_spans_never_overlap() -> None:
    spans = [
        PhiSpan(0, 6, K.NAME, 0.8),
        PhiSpan(4, 12, K.DATE, 0.85),
        PhiSpan(10, 20, K.PHONE, 0.8),
        PhiSpan(11, 14, K.PHONE, 0.9),
        PhiSpan(18, 25, K.NAME, 0.7),
    ]
    resolved = resolve_overlaps(spans)
    _assert_disjoint(resolved)
    covered = {i for span in spans for i in range(span.start, span.end)}
    assert {i for span in resolved for i in range(span.start, span.end)} == covered


def test_phi_span_rejects_empty_or_negative_ranges() -> None:
    with pytest.raises(ValueError, match="0 <= start < end"):
        PhiSpan(5, 5, K.NAME)
    with pytest.raises(ValueError, match="0 <= start < end"):
        PhiSpan(-1, 3, K.NAME)


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n"])
def test_empty_or_blank_text_has_no_identifiers(detector: Detector, text: str) -> None:
    assert detector.detect(text) == []


def test_detections_on_realistic_notes_are_sorted_and_disjoint(detector: Detector) -> None:
    notes = generate_labelled_notes(12, seed=11)
    total = 0
    for note in notes:
        spans = detector.detect(note.text)
        total += len(spans)
        _assert_disjoint(spans)
        for span in spans:
            value = span.text(note.text)
            assert value == value.strip() and value[-1] not in ",;:", value
    assert total > 5 * len(notes)


@pytest.mark.parametrize(
    "text",
    # the Chinese address patterns would take "[LOCATION]" itself as an address
    ["住址：[LOCATION]。", "家住[LOCATION]，", "地址：[LOCATION]", "Seen by Dr. [NAME] on [DATE]."],
)
def test_detector_does_not_look_inside_replacement_tags(detector: Detector, text: str) -> None:
    assert detector.detect(text) == []


def test_text_around_tags_is_still_searched(detector: Detector) -> None:
    text = "Seen by [NAME] on [DATE]; MRN: 00482913."
    spans = detector.detect(text)
    assert [(span.kind, span.text(text)) for span in spans] == [(K.MRN, "00482913")]


def test_spans_are_trimmed_of_punctuation_but_keep_area_code_brackets(
    detector: Detector,
) -> None:
    text = "Phone: (617) 555-0123; MRN: 00482913."
    spans = detector.detect(text)
    assert [span.text(text) for span in spans] == ["(617) 555-0123", "00482913"]


def test_a_higher_threshold_drops_weaker_detections() -> None:
    text = "Number 123-45-6789, MRN: 00482913"  # the bare SSN layout scores 0.7
    strict = Detector(min_score=0.9)
    assert [(span.kind, span.text(text)) for span in strict.detect(text)] == [(K.MRN, "00482913")]


def test_overlap_resolution_stays_fast_on_dense_text() -> None:
    import time

    spans = [
        PhiSpan(i * 3, i * 3 + 5, K.NAME if i % 2 else K.DATE, 0.5 + (i % 7) / 10)
        for i in range(20_000)
    ]
    started = time.perf_counter()
    resolved = resolve_overlaps(spans)
    assert time.perf_counter() - started < 5  # quadratic resolution took minutes
    assert all(a.end <= b.start for a, b in pairwise(resolved))
