"""Turning raw recognizer hits into one clean answer per character.

Recognizers overlap ("Son Quang" and "Quang"; an MRN label and a card checksum), stop
short of a word ("Dr. [NAME]Luca" if a pattern knows only ASCII) or take punctuation
along. These functions merge, rank, widen and trim, in O(n log n) so a long file with
thousands of hits stays linear in practice.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from dxkit.deid.types import PhiKind, PhiSpan

_LEADING_JUNK = ",;:：，。([{\"'"
_TRAILING_JUNK = ",;:：，。.)]}\"'"


def resolve_overlaps(spans: Sequence[PhiSpan]) -> list[PhiSpan]:
    """One answer per character: merge same-kind overlaps, then let the best kind win.

    Overlapping spans of one kind become their union ("Son Quang" and "Quang" are one
    name). Between kinds the higher score wins and, at equal score, the longer span; a
    loser keeps the parts the winner does not cover, so nothing a recognizer found is
    left in the text.
    """
    ranked = sorted(
        _merge_same_kind(spans), key=lambda span: (-span.score, span.start - span.end, span.start)
    )
    starts: list[int] = []
    taken: list[PhiSpan] = []  # non-overlapping, ordered by start (so also by end)
    for span in ranked:
        index = max(bisect_left(starts, span.start) - 1, 0)
        pieces = [span]
        while index < len(taken) and taken[index].start < span.end:
            kept = taken[index]
            pieces = [piece for part in pieces for piece in _subtract(part, kept)]
            index += 1
        for piece in pieces:
            at = bisect_left(starts, piece.start)
            starts.insert(at, piece.start)
            taken.insert(at, piece)
    return taken


def _merge_same_kind(spans: Sequence[PhiSpan]) -> list[PhiSpan]:
    merged: list[PhiSpan] = []
    for span in sorted(spans, key=lambda span: (span.kind, span.start)):
        last = merged[-1] if merged else None
        if last is not None and last.kind == span.kind and span.start < last.end:
            end, score = max(last.end, span.end), max(last.score, span.score)
            merged[-1] = PhiSpan(last.start, end, span.kind, score)
        else:
            merged.append(span)
    return merged


def _subtract(span: PhiSpan, other: PhiSpan) -> list[PhiSpan]:
    """What is left of ``span`` outside ``other`` (zero, one or two pieces)."""
    if not span.overlaps(other):
        return [span]
    parts = []
    if span.start < other.start:
        parts.append(PhiSpan(span.start, other.start, span.kind, span.score))
    if other.end < span.end:
        parts.append(PhiSpan(other.end, span.end, span.kind, span.score))
    return parts


def _is_latin_letter(char: str) -> bool:
    return char.isalpha() and ord(char) < 0x2E80  # below the CJK blocks


def widen(text: str, span: PhiSpan) -> PhiSpan:
    """Extend a span that stops inside a Latin word to the whole word ("DeLuca").

    Chinese has no word spaces, so a Chinese span is never widened.
    """
    start, end = span.start, span.end
    while start > 0 and _is_latin_letter(text[start - 1]) and _is_latin_letter(text[start]):
        start -= 1
    while end < len(text) and _is_latin_letter(text[end]) and _is_latin_letter(text[end - 1]):
        end += 1
    return (
        span
        if (start, end) == (span.start, span.end)
        else PhiSpan(start, end, span.kind, span.score)
    )


def trim(text: str, span: PhiSpan) -> PhiSpan | None:
    """Drop surrounding spaces and punctuation a regex took along; None if nothing is left
    that holds a letter or digit."""
    start, end = span.start, span.end
    while start < end and (text[start].isspace() or text[start] in _LEADING_JUNK):
        if text[start] == "(" and ")" in text[start:end]:
            break  # "(848) 685-0695" keeps its area code's parenthesis
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _TRAILING_JUNK):
        if text[end - 1] == ")" and "(" in text[start:end]:
            break
        end -= 1
    if not any(char.isalnum() for char in text[start:end]):
        return None
    return PhiSpan(start, end, span.kind, span.score)


def outside(spans: Sequence[PhiSpan], blocked: Sequence[tuple[int, int]]) -> list[PhiSpan]:
    """The parts of ``spans`` outside the ``blocked`` ranges (e.g. earlier "[NAME]" tags,
    which never overlap one another)."""
    walls = sorted(blocked)
    wall_starts = [start for start, _ in walls]
    out = []
    for span in spans:
        index = max(bisect_left(wall_starts, span.start) - 1, 0)
        pieces = [span]
        while index < len(walls) and walls[index][0] < span.end:
            wall = PhiSpan(walls[index][0], walls[index][1], PhiKind.ID)
            pieces = [piece for part in pieces for piece in _subtract(part, wall)]
            index += 1
        out.extend(pieces)
    return out
