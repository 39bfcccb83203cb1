"""Faithfulness: do the words an explanation names really drive the model's answer?

Why: a plausible-looking explanation can still be unfaithful (it names words the model
ignores). ERASER (DeYoung et al., "ERASER: A Benchmark to Evaluate Rationalized NLP
Models", ACL 2020) measures it with two deletions of the top-k attributed words:

* comprehensiveness = ``p(notes) - p(notes without the top-k words)``: high when the
  named words were needed (the answer collapses without them);
* sufficiency = ``p(notes) - p(only the top-k words)``: low when the named words alone
  reproduce the answer.

Both are reported next to the same scores for k random words of the same note (averaged
over ``n_random`` draws): an attribution method is only informative where it beats random.
The probability is that of each attribution's target class (explain the predicted class
to match ERASER exactly).

Limits: only the notes are edited (structured facts stay, so they keep carrying their
share of the answer and both scores are smaller than on a text-only model); deleted words
leave texts unlike the training data, which can move the probability for reasons other
than the meaning of the words; cases without words in their notes are skipped (``n``
counts the scored cases).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.explain.occlusion import BATCH_SIZE, batched_proba
from dxkit.explain.words import (
    TokenAttribution,
    check_targets,
    delete_spans,
    keep_spans,
    with_notes,
)


class FaithfulnessReport(BaseModel):
    """Mean ERASER scores of an attribution method and of random words, over ``n`` cases."""

    model_config = ConfigDict(frozen=True)
    k: int
    n: int  # cases scored (those with words in their notes)
    n_random: int  # random draws per case
    comprehensiveness: float  # higher is more faithful
    sufficiency: float  # lower is more faithful
    random_comprehensiveness: float
    random_sufficiency: float


def _check(name: str, value: int) -> None:
    if value < 1:
        raise InputError(
            name, expected="an integer >= 1", found=repr(value), fix=f"pass {name} >= 1"
        )


def faithfulness(
    model: Any,
    cases: Sequence[Case],
    attributions: Sequence[TokenAttribution],
    k: int = 5,
    seed: int = 0,
    *,
    n_random: int = 3,
    batch_size: int = BATCH_SIZE,
) -> FaithfulnessReport:
    """Comprehensiveness and sufficiency of ``attributions`` against random words.

    Args:
        model: anything with ``labels`` and ``predict_proba``; the model that was explained.
        cases: the explained cases.
        attributions: one per case, e.g. from :func:`~dxkit.explain.occlusion.occlusion` or
            :func:`~dxkit.explain.tokens.integrated_gradients`; only words with a span in
            the notes take part.
        k: words deleted or kept (all of them for notes with fewer words).
        seed: seed of the random-word baseline.
        n_random: random draws per case, averaged.
        batch_size: cases per ``predict_proba`` call (all edits are batched together).

    Raises:
        InputError: attributions do not match the cases, bad targets or settings.
    """
    _check("k", k)
    _check("n_random", n_random)
    if len(attributions) != len(cases):
        raise InputError(
            "faithfulness attributions",
            expected=f"one attribution per case ({len(cases)})",
            found=f"{len(attributions)} attributions",
            fix="explain every case once and pass the results in the same order",
        )
    targets = check_targets([a.target for a in attributions], len(cases), len(model.labels))
    rng = np.random.default_rng(seed)
    inputs: list[Case] = []
    scored: list[int] = []
    for i, (case, attribution) in enumerate(zip(cases, attributions, strict=True)):
        words = attribution.note_words()
        if not words:
            continue
        spans = [w.span for w in words if w.span is not None]
        size = min(k, len(spans))
        order = np.argsort([-w.weight for w in words], kind="stable")
        chosen = [[spans[j] for j in order[:size]]]
        chosen += [
            [spans[j] for j in rng.choice(len(spans), size=size, replace=False)]
            for _ in range(n_random)
        ]
        inputs.append(case)
        for picked in chosen:
            inputs.append(with_notes(case, delete_spans(case.notes, picked)))
            inputs.append(with_notes(case, keep_spans(case.notes, picked)))
        scored.append(i)
    if not scored:
        nan = float("nan")
        return FaithfulnessReport(
            k=k, n=0, n_random=n_random, comprehensiveness=nan, sufficiency=nan,
            random_comprehensiveness=nan, random_sufficiency=nan,
        )  # fmt: skip
    proba = batched_proba(model, inputs, batch_size)  # (n * (3 + 2 * n_random), C)
    per_case = 1 + 2 * (1 + n_random)
    t = np.asarray([targets[i] for i in scored])
    p = proba.reshape(len(scored), per_case, -1)[np.arange(len(scored)), :, t]  # (n, per_case)
    comp = p[:, :1] - p[:, 1::2]  # (n, 1 + n_random): column 0 is the method, others random
    suff = p[:, :1] - p[:, 2::2]
    return FaithfulnessReport(
        k=k,
        n=len(scored),
        n_random=n_random,
        comprehensiveness=float(comp[:, 0].mean()),
        sufficiency=float(suff[:, 0].mean()),
        random_comprehensiveness=float(comp[:, 1:].mean()),
        random_sufficiency=float(suff[:, 1:].mean()),
    )
