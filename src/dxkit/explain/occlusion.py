"""Word occlusion: which words of the notes does any model's answer depend on?

Why occlusion: it needs nothing but ``predict_proba``, so the TF-IDF, GRU, transformer and
any future model explain their notes the same way, through the public contract. The weight
of a word is the drop in the target probability when the word is deleted from the notes
(``p(notes) - p(notes without word)``): positive words support the class, negative words
argue against it. Weights are in probability units, directly comparable with the
structured attributions of :mod:`dxkit.explain.structured`.

Limits: deleting one word at a time ignores interactions (two redundant words each look
unimportant, as the other still carries the signal; "no fever" may credit "fever" with the
effect of the negation), and a deleted word leaves a text the model never saw in training.
Only the first ``max_words`` words are occluded to bound cost (one model input per word);
later words get no weight. Cost: one batched ``predict_proba`` over ``n_words + 1`` inputs
per case (all cases' variants batched together, ``batch_size`` at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.explain.words import (
    TokenAttribution,
    WordWeight,
    check_targets,
    delete_spans,
    display_word,
    note_word_spans,
    with_notes,
)

MAX_WORDS = 128
BATCH_SIZE = 512


def batched_proba(model: Any, cases: Sequence[Case], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """``model.predict_proba`` over ``cases`` in chunks, so memory stays bounded.

    Returns:
        Probabilities, shape (n_cases, n_labels).
    """
    if batch_size < 1:
        raise InputError(
            "batch_size",
            expected="an integer >= 1",
            found=repr(batch_size),
            fix="pass a positive batch size",
        )
    chunks = [
        np.asarray(model.predict_proba(list(cases[i : i + batch_size])), dtype=float)
        for i in range(0, len(cases), batch_size)
    ]
    if not chunks:
        return np.zeros((0, len(model.labels)))
    return np.concatenate(chunks, axis=0)


def occlusion_drops(
    model: Any,
    cases: Sequence[Case],
    *,
    max_words: int = MAX_WORDS,
    batch_size: int = BATCH_SIZE,
) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
    """Per case: the occluded word spans and the drop of every class, shape (n_words, C).

    All classes come out of the same forward passes, so explaining several conditions of
    one case costs no more than explaining one.
    """
    if max_words < 1:
        raise InputError(
            "max_words",
            expected="an integer >= 1",
            found=repr(max_words),
            fix="pass a positive word cap (default 128)",
        )
    spans_per_case = [note_word_spans(c.notes)[:max_words] for c in cases]
    variants: list[Case] = []
    for case, spans in zip(cases, spans_per_case, strict=True):
        variants.append(case)
        variants.extend(with_notes(case, delete_spans(case.notes, [s])) for s in spans)
    proba = batched_proba(model, variants, batch_size)  # (sum(n_words + 1), C)
    out: list[tuple[list[tuple[int, int]], np.ndarray]] = []
    row = 0
    for spans in spans_per_case:
        base = proba[row]  # (C,)
        drops = base[None, :] - proba[row + 1 : row + 1 + len(spans)]  # (n_words, C)
        out.append((spans, drops))
        row += len(spans) + 1
    return out


def to_attribution(
    case: Case, spans: Sequence[tuple[int, int]], drops: np.ndarray, target: int
) -> TokenAttribution:
    """One case's occlusion drops toward ``target`` as a :class:`TokenAttribution`."""
    words = tuple(
        WordWeight(display_word(case.notes, span), float(drops[i, target]), span)
        for i, span in enumerate(spans)
    )
    return TokenAttribution(target=target, words=words, method="occlusion")


def occlusion(
    model: Any,
    cases: Sequence[Case],
    targets: Sequence[int],
    *,
    max_words: int = MAX_WORDS,
    batch_size: int = BATCH_SIZE,
) -> list[TokenAttribution]:
    """Word-occlusion attributions of each case's notes toward its target class.

    Args:
        model: anything with ``labels`` and ``predict_proba`` (calibrated or not).
        cases: the cases to explain.
        targets: one class index (position in ``model.labels``) per case.
        max_words: only the first ``max_words`` words of each note are occluded.
        batch_size: cases per ``predict_proba`` call.

    Returns:
        One :class:`TokenAttribution` per case; empty ``words`` for a case without notes.

    Raises:
        InputError: targets do not match the cases or the model's labels.
    """
    checked = check_targets(targets, len(cases), len(model.labels))
    drops = occlusion_drops(model, cases, max_words=max_words, batch_size=batch_size)
    return [
        to_attribution(case, spans, matrix, target)
        for case, (spans, matrix), target in zip(cases, drops, checked, strict=True)
    ]
