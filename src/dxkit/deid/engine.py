"""The detector: Presidio's analyzer over dxkit's recognizers, answering in :class:`PhiSpan`.

Presidio runs every recognizer and scores the hits; this module adds the mentions of
names found earlier in the same record, widens spans to whole Latin words, picks one
answer where hits overlap (:mod:`dxkit.deid.spans`), and leaves alone what an earlier
pass already replaced (``[NAME]``), which makes the ``tag`` policy idempotent. No recognizer
needs a trained language model: the analyzer runs on Presidio's no-op NLP engine, so
nothing is downloaded, ever.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from functools import cache

from dxkit.deid.presidio import AnalyzerEngine, NoOpNlpEngine, RecognizerRegistry, RecognizerResult
from dxkit.deid.recognizers_names import (
    ChineseNameRecognizer,
    EnglishNameRecognizer,
    name_mentions,
    name_words,
)
from dxkit.deid.recognizers_names_zh import chinese_mentions
from dxkit.deid.recognizers_patterns import (
    LANGUAGE,
    PRESIDIO_KINDS,
    LabelledValueRecognizer,
    ResidentIdRecognizer,
    data_recognizers,
    presidio_recognizers,
)
from dxkit.deid.spans import outside, resolve_overlaps, trim, widen
from dxkit.deid.types import PhiKind, PhiSpan

# Hits below this score are too weak to act on (Presidio's context-free phone and card
# matches start low and only rise with validation).
MIN_SCORE = 0.4
# Presidio's checksum recognizers score a valid number 1.0; a label outranks them.
PRESIDIO_MAX_SCORE = 0.9
_HAN = re.compile(r"[\u4e00-\u9fff]+")
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


class Detector:
    """Finds identifiers in text; one instance serves any number of documents."""

    def __init__(self, min_score: float = MIN_SCORE) -> None:
        self.min_score = min_score
        self._analyzer = analyzer()

    def detect(self, text: str, known_names: Collection[str] = ()) -> list[PhiSpan]:
        """Every identifier in ``text``, non-overlapping and in order.

        ``known_names`` are name words found earlier in the same record (another block
        of a file, another field of a case): their mentions here are names too.
        """
        if not text.strip():
            return []
        results: list[RecognizerResult] = self._analyzer.analyze(
            text=text, language=LANGUAGE, score_threshold=self.min_score
        )
        spans = []
        for result in results:
            kind = _kind_of(result.entity_type)
            if kind is None or result.end <= result.start:
                continue
            score = float(result.score)
            if result.entity_type in PRESIDIO_KINDS:
                score = min(score, PRESIDIO_MAX_SCORE)
            spans.append(PhiSpan(result.start, result.end, kind, score))
        spans += self._mentions(text, known_names)
        tags = [(match.start(), match.end()) for match in _TAG.finditer(text)]
        pieces = outside([widen(text, span) for span in spans], tags)
        cleaned = (trim(text, span) for span in resolve_overlaps(pieces))
        return [span for span in cleaned if span is not None]

    @staticmethod
    def _mentions(text: str, known_names: Collection[str]) -> list[PhiSpan]:
        if not known_names:
            return []
        latin = [name for name in known_names if not _HAN.search(name)]
        han = [name for name in known_names if _HAN.search(name)]
        found = list(name_mentions(text, latin)) + list(chinese_mentions(text, han))
        return [PhiSpan(start, end, PhiKind.NAME, score) for start, end, score in found]


def name_words_of(text: str, spans: Sequence[PhiSpan]) -> set[str]:
    """The name words of ``spans`` worth looking for in the rest of a record."""
    names = [span.text(text) for span in spans if span.kind is PhiKind.NAME]
    latin = name_words(name for name in names if not _HAN.search(name))
    han = {name for name in names if _HAN.fullmatch(name) and len(name) >= 2}
    return latin | han
