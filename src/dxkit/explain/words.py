"""Words of a note, and the attribution types every explanation method returns.

Why one word segmentation: integrated gradients, word occlusion and the faithfulness
scores must agree on what "a word" is, or a faithfulness score would delete something other
than what was explained. Words are whitespace-separated chunks of the note (so "fever," is
one word and deleting it also deletes its comma); runs of Chinese characters, which carry
no spaces, are cut into words by jieba, as the baseline models do. Chunks of punctuation
only are not words: they carry no clinical meaning and would crowd out the real evidence.

Every word keeps its character span in ``case.notes``: that span is what faithfulness
deletes, and what a page would highlight. Words of the structured part of a model's input
text (which only integrated gradients sees) have no span.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

from dxkit.cases.schema import Case
from dxkit.errors import InputError

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CHUNK = re.compile(r"\S+")
# ASCII and full-width punctuation that is trimmed from a word's displayed form.
_PUNCT = string.punctuation + "，。；：！？、（）【】《》“”‘’…·"


@dataclass(frozen=True)
class WordWeight:
    """One word and its attribution toward the explained class.

    Attributes:
        word: the word as displayed (surrounding punctuation trimmed).
        weight: contribution to the target probability; positive supports the class.
        span: ``(start, end)`` characters of the word in ``case.notes``; ``None`` for a
            word of the structured text that a transformer reads after the notes.
    """

    word: str
    weight: float
    span: tuple[int, int] | None = None


@dataclass(frozen=True)
class TokenAttribution:
    """The word attributions of one case toward one class.

    Attributes:
        target: index of the explained class in ``model.labels``.
        words: words in reading order (notes first).
        method: ``"integrated_gradients"`` or ``"occlusion"``.
        delta: integrated-gradients convergence delta (completeness error, in probability
            units); ``None`` for occlusion, which has no such check.
    """

    target: int
    words: tuple[WordWeight, ...]
    method: str
    delta: float | None = None

    def pairs(self) -> list[tuple[str, float]]:
        """``(word, weight)`` pairs in reading order."""
        return [(w.word, w.weight) for w in self.words]

    def note_words(self) -> list[WordWeight]:
        """Only the words that lie in the notes (those faithfulness can delete)."""
        return [w for w in self.words if w.span is not None]


def _jieba_spans(chunk: str, offset: int) -> list[tuple[int, int]]:
    """Word spans of a chunk that holds Chinese, via jieba's offset-aware tokenizer."""
    from dxkit.models.tokenize import _jieba

    return [
        (offset + start, offset + end)
        for word, start, end in _jieba().tokenize(chunk)
        if word.strip(_PUNCT + " ")
    ]


def note_word_spans(notes: str) -> list[tuple[int, int]]:
    """Character spans of the words of ``notes``, in reading order.

    >>> note_word_spans("Fever, cough - no rash.")
    [(0, 6), (7, 12), (15, 17), (18, 23)]
    """
    spans: list[tuple[int, int]] = []
    for match in _CHUNK.finditer(notes):
        chunk = match.group()
        if not chunk.strip(_PUNCT):
            continue
        if _CJK_CHAR.search(chunk):
            spans.extend(_jieba_spans(chunk, match.start()))
        else:
            spans.append(match.span())
    return spans


def display_word(notes: str, span: tuple[int, int]) -> str:
    """The word at ``span`` with surrounding punctuation trimmed (kept if nothing is left).

    >>> display_word("Fever, cough", (0, 6))
    'Fever'
    """
    raw = notes[span[0] : span[1]]
    return raw.strip(_PUNCT) or raw


def delete_spans(notes: str, spans: Sequence[tuple[int, int]]) -> str:
    """``notes`` with the characters of ``spans`` removed (and doubled spaces closed).

    >>> delete_spans("fever and cough", [(6, 9)])
    'fever cough'
    """
    pieces: list[str] = []
    cursor = 0
    for start, end in sorted(spans):
        if start < cursor:  # overlapping spans: the earlier one already removed this
            start = cursor
        pieces.append(notes[cursor:start])
        cursor = max(cursor, end)
    pieces.append(notes[cursor:])
    return re.sub(r"[ \t]{2,}", " ", "".join(pieces)).strip()


def keep_spans(notes: str, spans: Sequence[tuple[int, int]]) -> str:
    """Only the characters of ``spans``, joined by spaces, in reading order.

    >>> keep_spans("fever and cough", [(10, 15), (0, 5)])
    'fever cough'
    """
    return " ".join(notes[start:end] for start, end in sorted(spans))


def with_notes(case: Case, notes: str) -> Case:
    """A copy of ``case`` with other notes (structured fields untouched)."""
    return case.model_copy(update={"notes": notes})


def check_targets(targets: Sequence[int], n_cases: int, n_labels: int) -> list[int]:
    """Validate one class index per case; errors name counts and indices, never notes."""
    if len(targets) != n_cases:
        raise InputError(
            "explanation targets",
            expected=f"one class index per case ({n_cases})",
            found=f"{len(targets)} targets",
            fix="pass as many targets as cases, e.g. the argmax of predict_proba",
        )
    out = [int(t) for t in targets]
    bad = [t for t in out if not 0 <= t < n_labels]
    if bad:
        raise InputError(
            "explanation targets",
            expected=f"class indices in [0, {n_labels - 1}]",
            found=f"index {bad[0]}",
            fix="use positions in model.labels",
        )
    return out
