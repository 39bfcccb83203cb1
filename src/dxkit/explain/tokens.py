"""Integrated gradients for the transformer encoder: which words moved its answer?

Why integrated gradients (Sundararajan et al., ICML 2017): it is the one gradient method
with *completeness* (the word weights sum to ``p(text) - p(baseline)``), so weights are in
probability units like the occlusion and structured weights, and the convergence delta
(how far the sum is from that difference) says how much to trust them. It needs one
forward/backward pass per step, not one forward pass per word as occlusion does, so long
notes cost the same as short ones.

Choices and their limits:

* The path runs through the word-embedding layer only (found generically with
  ``network.get_input_embeddings()``), so position and segment embeddings are the same at
  both ends and only the words are attributed.
* The baseline replaces every token by ``[PAD]`` but keeps ``[CLS]`` and ``[SEP]``: a
  sequence of the same length that says nothing. Other baselines (``[MASK]``, ``[UNK]``,
  blurred embeddings) give somewhat different weights; no baseline is "the" absence of
  a word, which is the main caveat of the method.
* The explained output is the (temperature-scaled, when the model is calibrated) softmax
  probability of the target class, not its logit, so weights read as probability.
* ``n_steps`` defaults to 20 Gauss-Legendre steps (cheap on CPU); when ``delta`` is large
  relative to the weights, raise ``n_steps``.
* WordPiece pieces are summed into words. Words of the notes are the same words that
  occlusion and faithfulness use (:mod:`dxkit.explain.words`) and keep their span in the
  notes; words of the structured text the encoder reads after the notes are merged on
  ``##`` pieces and have no span. When a long note is cut head+tail, the notes' tail
  words are reported as words without a span.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.explain.words import (
    TokenAttribution,
    WordWeight,
    check_targets,
    display_word,
    note_word_spans,
)


def unwrap_encoder(model: Any) -> tuple[Any, float] | None:
    """The encoder model inside ``model`` (through calibration wrappers) and its temperature.

    Returns ``None`` for a model without a transformer ``network`` (TF-IDF, GRU).
    """
    temperature = 1.0
    seen = 0
    while not hasattr(model, "network") and seen < 8:
        temperature *= float(getattr(model, "temperature", 1.0))
        inner = getattr(model, "inner", None) or getattr(model, "model", None)
        if inner is None:
            return None
        model, seen = inner, seen + 1
    return (model, temperature) if hasattr(model, "network") else None


def _merge_words(
    tokenizer: Any,
    case: Case,
    text: str,
    ids: list[int],
    scores: list[float],
) -> tuple[WordWeight, ...]:
    """Sum piece scores into words; notes words keep their span. Specials are dropped."""
    specials = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    content = [p for p, i in enumerate(ids) if i not in specials]
    note_ids: list[int] = []
    offsets: list[tuple[int, int]] = []
    notes = case.notes.strip()
    lead = len(case.notes) - len(case.notes.lstrip())
    if notes and text.startswith(notes) and getattr(tokenizer, "is_fast", False):
        encoded = tokenizer(
            notes, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        note_ids, offsets = list(encoded["input_ids"]), list(encoded["offset_mapping"])
    matched = 0  # leading content pieces that are the notes' own pieces
    while matched < min(len(note_ids), len(content)) and ids[content[matched]] == note_ids[matched]:
        matched += 1
    spans = note_word_spans(case.notes)
    starts = [s for s, _ in spans]
    note_weight: dict[int, float] = {}
    for j in range(matched):
        begin = offsets[j][0] + lead
        k = bisect_right(starts, begin) - 1
        if k >= 0 and begin < spans[k][1]:
            note_weight[k] = note_weight.get(k, 0.0) + scores[content[j]]
    words = [
        WordWeight(display_word(case.notes, spans[k]), w, spans[k])
        for k, w in sorted(note_weight.items())
    ]
    rest: list[list[Any]] = []  # [word, weight] of the structured text
    for p in content[matched:]:
        piece = tokenizer.convert_ids_to_tokens(ids[p])
        if piece.startswith("##") and rest:
            rest[-1][0] += piece[2:]
            rest[-1][1] += scores[p]
        else:
            rest.append([piece.removeprefix("##"), scores[p]])
    words.extend(WordWeight(str(w), float(s), None) for w, s in rest)
    return tuple(words)


def integrated_gradients(
    model: Any,
    cases: Sequence[Case],
    targets: Sequence[int],
    *,
    n_steps: int = 20,
    internal_batch_size: int = 16,
    num_threads: int = 0,
) -> list[TokenAttribution]:
    """Layer integrated gradients of each case's encoder input toward its target class.

    Args:
        model: an encoder model (``network``, ``tokenizer``, ``case_texts``, ``encode``,
            ``labels``), possibly inside a calibration wrapper.
        cases: the cases to explain.
        targets: one class index (position in ``model.labels``) per case.
        n_steps: integration steps; more steps, smaller ``delta``, proportionally slower.
        internal_batch_size: rows (case x step) per forward pass, which bounds memory;
            cases are processed ``internal_batch_size // 2`` at a time.
        num_threads: torch CPU threads; 0 picks :func:`~dxkit.models.shared.cpu_threads`
            (few threads: on a busy 2-core machine two threads made one tiny-model case
            take 100-300 ms against 20 ms with one, measured).

    Returns:
        One :class:`TokenAttribution` per case, with the convergence delta.

    Raises:
        InputError: the model has no transformer network, bad targets or settings.
    """
    found = unwrap_encoder(model)
    if found is None:
        raise InputError(
            "integrated gradients",
            expected="an encoder model with a transformer `network`",
            found=f"a {type(model).__name__}",
            fix="use dxkit.explain.occlusion for TF-IDF and GRU models",
        )
    for name, value, low in (
        ("n_steps", n_steps, 1),
        ("internal_batch_size", internal_batch_size, 2),
    ):
        if value < low:
            raise InputError(
                name,
                expected=f"an integer >= {low}",
                found=repr(value),
                fix=f"pass {name} >= {low}",
            )
    encoder, temperature = found
    if encoder.network is None:
        raise InputError(
            "integrated gradients",
            expected="a fitted encoder model",
            found="an encoder that was neither fitted nor loaded",
            fix="fit the model or load a saved model directory first",
        )
    checked = check_targets(targets, len(cases), len(encoder.labels))
    import torch

    from dxkit.models.shared import cpu_threads

    chunk = max(1, internal_batch_size // 2)
    out: list[TokenAttribution] = []
    previous = torch.get_num_threads()
    torch.set_num_threads(cpu_threads(num_threads))
    try:
        for start in range(0, len(cases), chunk):
            part = list(cases[start : start + chunk])
            settings = (temperature, n_steps, internal_batch_size)
            out.extend(_attribute(encoder, part, checked[start : start + chunk], *settings))
    finally:
        torch.set_num_threads(previous)
    return out


def _attribute(
    encoder: Any,
    cases: list[Case],
    targets: list[int],
    temperature: float,
    n_steps: int,
    internal_batch_size: int,
) -> list[TokenAttribution]:
    """One batch of cases through captum's LayerIntegratedGradients."""
    import torch
    from captum.attr import LayerIntegratedGradients  # type: ignore[import-untyped]

    network, tokenizer = encoder.network, encoder.tokenizer
    texts = list(encoder.case_texts(cases))
    batch = encoder.encode(texts)
    ids = batch["input_ids"]  # (B, T)
    mask = batch.get("attention_mask", torch.ones_like(ids))  # (B, T)
    types = batch.get("token_type_ids", torch.zeros_like(ids))  # (B, T)
    keep = torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id], device=ids.device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    baseline = torch.where(torch.isin(ids, keep), ids, pad)  # (B, T)

    def forward(input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        logits = network(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).logits  # (B * steps, C)
        return torch.softmax(logits / temperature, dim=-1)

    ig = LayerIntegratedGradients(forward, network.get_input_embeddings())
    attributions, delta = ig.attribute(
        inputs=ids,
        baselines=baseline,
        target=targets,
        additional_forward_args=(mask, types),
        n_steps=n_steps,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=True,
    )
    scores = attributions.sum(dim=-1).detach().cpu()  # (B, T): sum over the hidden size
    out = []
    for i, case in enumerate(cases):
        real = mask[i].bool().cpu()  # (T,): padding may sit on either side
        row_ids = [int(v) for v in ids[i].cpu()[real]]
        row_scores = [float(v) for v in scores[i][real]]
        words = _merge_words(tokenizer, case, texts[i], row_ids, row_scores)
        out.append(
            TokenAttribution(
                target=targets[i],
                words=words,
                method="integrated_gradients",
                delta=float(delta[i]),
            )
        )
    return out
