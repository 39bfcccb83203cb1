"""The detector: Presidio's analyzer over dxkit's recognizers, answering in :class:`PhiSpan`.

Presidio runs every recognizer and scores the hits; this module picks one answer where
hits overlap, widens spans to whole tokens, and leaves alone what an earlier pass already
replaced (``[NAME]``), which is what makes de-identification idempotent. No recognizer
needs a trained language model: the analyzer runs on Presidio's no-op NLP engine, so
nothing is downloaded, ever.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from dxkit.deid.presidio import AnalyzerEngine, NoOpNlpEngine, RecognizerRegistry, RecognizerResult
from dxkit.deid.recognizers_names import ChineseNameRecognizer, EnglishNameRecognizer
from dxkit.deid.recognizers_patterns import (
    LANGUAGE,
    PRESIDIO_KINDS,
    LabelledValueRecognizer,
    ResidentIdRecognizer,
    data_recognizers,
    presidio_recognizers,
)
from dxkit.deid.types import PhiKind, PhiSpan

# Hits below this score are too weak to act on (Presidio's context-free phone and card
# matches start low and only rise with validation).
MIN_SCORE = 0.4
# Presidio's checksum recognizers score a valid number 1.0; a label outranks them.
PRESIDIO_MAX_SCORE = 0.9
# What an earlier pass wrote: never detect inside it again.
_TAG = re.compile(r"\[(?:" + "|".join(kind.value for kind in PhiKind) + r")\]")


def _kind_of(entity_type: str) -> PhiKind | None:
    if entity_type in PRESIDIO_KINDS:
        return PRESIDIO_KINDS[entity_type]
    try:
        return PhiKind(entity_type)
    except ValueError:
        return None


@cache
def analyzer() -> AnalyzerEngine:
    """The analyzer with every dxkit recognizer, built once per process (about 1 s)."""
    nlp_engine = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "none"}])
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in [
        *data_recognizers(),
        LabelledValueRecognizer(),
        ResidentIdRecognizer(),
        *presidio_recognizers(),
        EnglishNameRecognizer(),
        ChineseNameRecognizer(),
    ]:
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=[LANGUAGE],
        default_score_threshold=MIN_SCORE,
    )


def resolve_overlaps(spans: Sequence[PhiSpan]) -> list[PhiSpan]:
    """One answer per character: merge same-kind overlaps, then let the best kind win.

    Overlapping spans of one kind become their union ("Son Quang" and "Quang" are one
    name). Between kinds the higher score wins and, at equal score, the longer span; a
    loser keeps the part the winner does not cover, so nothing a recognizer found is
    left in the text.
    """
    merged = _merge_same_kind(spans)
    ranked = sorted(merged, key=lambda span: (-span.score, -(span.end - span.start), span.start))
    taken: list[PhiSpan] = []
    for span in ranked:
        pieces = [span]
        for kept in taken:
            pieces = [piece for part in pieces for piece in _subtract(part, kept)]
        taken.extend(pieces)
    return sorted(taken)


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
    """What is left of ``span`` outside ``other``: pieces with a letter or digit in them."""
    if not span.overlaps(other):
        return [span]
    parts = []
    if span.start < other.start:
        parts.append(PhiSpan(span.start, other.start, span.kind, span.score))
    if other.end < span.end:
        parts.append(PhiSpan(other.end, span.end, span.kind, span.score))
    return parts


_LEADING_JUNK = ",;:：，。([{\"'"
_TRAILING_JUNK = ",;:：，。.)]}\"'"


def _has_word(text: str, span: PhiSpan) -> bool:
    return any(char.isalnum() for char in text[span.start : span.end])


def _trim(text: str, span: PhiSpan) -> PhiSpan | None:
    """Drop surrounding spaces and punctuation a regex may have taken along."""
    start, end = span.start, span.end
    while start < end and (text[start].isspace() or text[start] in _LEADING_JUNK):
        if text[start] == "(" and ")" in text[start:end]:
            break  # "(848) 685-0695" keeps its area code's parenthesis
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _TRAILING_JUNK):
        if text[end - 1] == ")" and "(" in text[start:end]:
            break
        end -= 1
    if end - start < 1:
        return None
    return PhiSpan(start, end, span.kind, span.score)


class Detector:
    """Finds identifiers in text; one instance serves any number of documents."""

    def __init__(self, min_score: float = MIN_SCORE) -> None:
        self.min_score = min_score
        self._analyzer = analyzer()

    def detect(self, text: str) -> list[PhiSpan]:
        """Every identifier in ``text``, non-overlapping and in order."""
        if not text.strip():
            return []
        results: list[RecognizerResult] = self._analyzer.analyze(
            text=text, language=LANGUAGE, score_threshold=self.min_score
        )
        tags = [(match.start(), match.end()) for match in _TAG.finditer(text)]
        spans = []
        for result in results:
            kind = _kind_of(result.entity_type)
            if kind is None or result.end <= result.start:
                continue
            if any(start < result.end and result.start < end for start, end in tags):
                continue
            score = float(result.score)
            if result.entity_type in PRESIDIO_KINDS:
                score = min(score, PRESIDIO_MAX_SCORE)
            trimmed = _trim(text, PhiSpan(result.start, result.end, kind, score))
            if trimmed is not None:
                spans.append(trimmed)
        resolved = (_trim(text, span) for span in resolve_overlaps(spans))
        return [span for span in resolved if span is not None and _has_word(text, span)]
