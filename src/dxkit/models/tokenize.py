"""Tokenisation shared by the baseline models: English words plus Chinese words via jieba.

Why one tokeniser: the TF-IDF and RNN models must cut a mixed English/Chinese case text the
same way, so a vocabulary learned on one is meaningful to the other and to explanations.
English (and the structured part of every case, which :func:`dxkit.features.text.case_to_text`
always writes in English) is split into lower-cased word tokens; runs of Chinese characters,
which carry no spaces, are segmented by jieba's dictionary-based segmenter.

jieba loads a ~5 MB dictionary and logs to stderr when it does, so it is initialised lazily
(the first time Chinese text is seen) and quietly, never at import time.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

PAD = "<pad>"
UNK = "<unk>"

# CJK Unified Ideographs (+ extension A and compatibility ideographs).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
# A CJK run, or a latin/digit word (keeps decimals like 38.5 and keys like spo2_low whole).
_WORD = f"[^\\W_{_CJK}]+"
_TOKEN = re.compile(f"[{_CJK}]+|{_WORD}(?:[._]{_WORD})*")


@cache
def _jieba() -> Any:
    """Import and initialise jieba once, with its dictionary-loading chatter silenced."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def has_chinese(text: str) -> bool:
    """Whether ``text`` contains any Chinese character.

    >>> has_chinese("cough 咳嗽"), has_chinese("cough")
    (True, False)
    """
    return _CJK_RUN.search(text) is not None


def chinese_words(text: str) -> list[str]:
    """jieba words of the Chinese runs in ``text`` only (English is left out).

    The TF-IDF model adds these as an extra feature block, because character n-grams
    alone cannot tell a two-character word from two unrelated characters side by side.
    """
    words: list[str] = []
    for run in _CJK_RUN.findall(text):
        words.extend(w for w in _jieba().lcut(run) if w.strip())
    return words


def tokenize(text: str) -> list[str]:
    """Lower-cased English word tokens and jieba-segmented Chinese words, in text order.

    >>> tokenize("Fever 38.5 Cel, spo2_low. No rash!")
    ['fever', '38.5', 'cel', 'spo2_low', 'no', 'rash']
    """
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        piece = match.group()
        if _CJK_RUN.fullmatch(piece):
            tokens.extend(w for w in _jieba().lcut(piece) if w.strip())
        else:
            tokens.append(piece)
    return tokens


def truncate_head_tail(tokens: Sequence[str], max_len: int) -> list[str]:
    """Keep at most ``max_len`` tokens: the first half and the last half of the text.

    Why both ends: notes open with the presenting complaint, while the structured facts
    (observations and their high/low flags) are appended at the end by ``case_to_text``.

    >>> truncate_head_tail(list("abcdefgh"), 4)
    ['a', 'b', 'g', 'h']
    """
    if max_len < 1:
        raise ValueError("max_len must be at least 1")
    if len(tokens) <= max_len:
        return list(tokens)
    head = max_len - max_len // 2
    tail = max_len // 2
    return [*tokens[:head], *(tokens[-tail:] if tail else [])]


class Vocabulary:
    """Token <-> id map with ``<pad>`` = 0 and ``<unk>`` = 1, built from training text.

    Stored as a plain JSON list (see :meth:`to_list`) so a saved model never needs
    unpickling to be read.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}")
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(
        cls, documents: Iterable[Sequence[str]], *, min_freq: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """Tokens seen at least ``min_freq`` times, most frequent first (ties by token).

        >>> Vocabulary.build([["a", "b", "a"], ["c", "a", "b"]], min_freq=2).tokens
        ['<pad>', '<unk>', 'a', 'b']
        """
        counts: Counter[str] = Counter()
        for doc in documents:
            counts.update(doc)
        ranked = sorted(
            (t for t, n in counts.items() if n >= min_freq and t not in (PAD, UNK)),
            key=lambda t: (-counts[t], t),
        )
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        return cls([PAD, UNK, *ranked])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``; unseen tokens map to ``<unk>`` (1).

        >>> Vocabulary(["<pad>", "<unk>", "fever"]).encode(["fever", "rash"])
        [2, 1]
        """
        unk = self.index[UNK]
        return [self.index.get(t, unk) for t in tokens]

    def to_list(self) -> list[str]:
        """The tokens in id order, for JSON storage."""
        return list(self.tokens)
