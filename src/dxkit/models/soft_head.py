"""A softmax head fitted directly to soft target distributions over a sparse TF-IDF matrix.

Used by :class:`dxkit.models.tfidf.TfidfModel` when the data carries reference
differentials: scikit-learn's logistic regression accepts only hard labels, and repeating
each case once per differential entry (the older expansion) is slow and fits worse.
Fitting is torch (sparse CSR products, full-batch L-BFGS); prediction is numpy only.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from dxkit.models.shared import cpu_threads


def _sparse_tensor(x: Any) -> Any:
    """A scipy sparse matrix as a float32 torch CSR tensor (no copy of the structure)."""
    import torch

    csr = x.tocsr().astype(np.float32)
    with warnings.catch_warnings():  # "CSR support is in beta": mm on CPU is all we use
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(csr.indptr.astype(np.int64)),
            torch.from_numpy(csr.indices.astype(np.int64)),
            torch.from_numpy(csr.data),
            size=csr.shape,
            check_invariants=False,
        )


def fit_soft_head(
    x: Any, targets: np.ndarray, *, l2: float, hidden: int, max_iter: int, seed: int
) -> dict[str, np.ndarray]:
    """Fit ``softmax(head(x))`` to a soft target distribution by full-batch L-BFGS.

    Loss: mean cross-entropy against ``targets`` + ``l2`` times the squared weights (biases
    free). Full batch because the TF-IDF matrices here are small enough (DDXPlus: 1,461 x
    12,774 with 2 M non-zeros) and it makes the result a deterministic function of the
    data and seed, with no learning rate or epoch count to tune.

    Args:
        x: sparse TF-IDF matrix, shape (n_cases, n_features).
        targets: target distributions, shape (n_cases, n_labels), rows summing to 1.
        l2: weight decay on the weight matrices.
        hidden: width of one hidden ReLU layer; 0 for a linear head.
        max_iter: L-BFGS iterations.
        seed: seed of the hidden-layer initial weights.

    Returns:
        float32 arrays: ``w`` (in, n_labels) and ``b``, plus ``w1`` (n_features, hidden)
        and ``b1`` when ``hidden > 0``.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(cpu_threads())
    try:
        generator = torch.Generator().manual_seed(seed)
        xs, xt = _sparse_tensor(x), _sparse_tensor(x.T)  # (n, F), (F, n)

        class XMatmul(torch.autograd.Function):
            """``x @ w`` whose gradient uses the precomputed ``x.T``: a CSR product like the
            forward one, each output row summed by one thread in a fixed order, so fits
            are reproducible."""

            @staticmethod
            def forward(ctx: Any, weight: torch.Tensor) -> torch.Tensor:
                out: torch.Tensor = torch.sparse.mm(xs, weight)
                return out

            @staticmethod
            def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
                out: torch.Tensor = torch.sparse.mm(xt, grad)
                return out

        target = torch.as_tensor(targets, dtype=torch.float32)  # (n, C)
        n_features, n_labels = x.shape[1], targets.shape[1]
        params: dict[str, torch.Tensor] = {}
        if hidden:
            params["w1"] = torch.randn(n_features, hidden, generator=generator) * 0.05
            params["b1"] = torch.zeros(hidden)
            params["w"] = torch.randn(hidden, n_labels, generator=generator) * 0.05
        else:
            params["w"] = torch.zeros(n_features, n_labels)
        params["b"] = torch.zeros(n_labels)
        for tensor in params.values():
            tensor.requires_grad_(True)
        optimizer = torch.optim.LBFGS(
            list(params.values()),
            max_iter=max_iter,
            history_size=10,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-6,
            tolerance_change=1e-10,
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            first = params["w1"] if hidden else params["w"]
            z = XMatmul.apply(first)  # type: ignore[no-untyped-call]
            if hidden:
                z = torch.relu(z + params["b1"]) @ params["w"]
            log_p = torch.log_softmax(z + params["b"], dim=1)
            penalty = sum((params[k] ** 2).sum() for k in ("w1", "w") if k in params)
            loss = -(target * log_p).sum(dim=1).mean() + l2 * penalty
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        optimizer.step(closure)  # type: ignore[no-untyped-call]
    finally:
        torch.set_num_threads(previous)
    return {k: v.detach().numpy().astype(np.float32) for k, v in params.items()}


def soft_head_proba(x: Any, head: dict[str, np.ndarray]) -> np.ndarray:
    """Probabilities of a head from :func:`fit_soft_head`, in numpy (no torch at predict)."""
    z = np.asarray(x @ head["w1"].astype(np.float64)) if "w1" in head else None
    if z is not None:
        z = np.maximum(z + head["b1"], 0.0) @ head["w"].astype(np.float64)
    else:
        z = np.asarray(x @ head["w"].astype(np.float64))
    z = z + head["b"]
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out
