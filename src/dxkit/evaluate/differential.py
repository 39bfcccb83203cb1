"""Differential-diagnosis metrics of the DDXPlus benchmark.

Source: A. Fansi Tchango, R. Goel, Z. Wen, J. Martel, J. Ghosn, "DDXPlus: A New Dataset For
Automatic Medical Diagnosis", NeurIPS 2022 Datasets and Benchmarks track
(https://arxiv.org/abs/2205.09148). Each DDXPlus case comes with the ground-truth pathology
and a reference *differential*: the pathologies a rule-based expert system still retains,
with probabilities. A model is judged not only on its top answer but on how well its own
differential overlaps the reference one, because a clinician acts on the whole list.

Definitions used here (``threshold`` defaults to 0.01, as in the paper):

* predicted differential ``P_i`` = labels whose predicted probability is ``>= threshold``;
* reference differential ``R_i`` = conditions in the reference with probability ``> 0``
  (DDXPlus already lists only retained pathologies);
* **GTPA@k**: fraction of cases whose ground truth is among the ``k`` most probable labels;
* **GTPA**: fraction of cases whose ground truth is in ``P_i``;
* **DDR** = mean over cases of ``|P_i ∩ R_i| / |R_i|`` (recall of the reference);
* **DDP** = mean over cases of ``|P_i ∩ R_i| / |P_i|`` (precision; 0 when ``P_i`` is empty);
* **DDF1** = ``2 * DDR * DDP / (DDR + DDP)``, the harmonic mean of the *averaged* DDR and
  DDP, as the paper reports it (not the mean of per-case F1, which is usually lower).

Cases without a reference (``None``) count for GTPA but are skipped for DDR/DDP/DDF1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from dxkit.evaluate.metrics import UNSEEN, check_inputs

__all__ = ["differential_metrics", "reference_matrix"]


def _check_labels(labels: Sequence[str], n_classes: int | None) -> dict[str, int]:
    index = {name: j for j, name in enumerate(labels)}
    if len(index) != len(labels):
        dup = len(labels) - len(index)
        raise ValueError(f"labels: expected unique condition names; found {dup} duplicate(s)")
    if n_classes is not None and len(labels) != n_classes:
        raise ValueError(
            f"labels: expected {n_classes} names (one per column of proba); found {len(labels)}"
        )
    return index


def _check_reference(
    reference: Sequence[dict[str, float] | None], n: int
) -> list[dict[str, float] | None]:
    refs = list(reference)
    if len(refs) != n:
        raise ValueError(f"reference: expected {n} entries (one per case); found {len(refs)}")
    for i, ref in enumerate(refs):
        if ref is None:
            continue
        values = np.fromiter(ref.values(), dtype=np.float64, count=len(ref))
        if not np.all(np.isfinite(values)) or np.any(values < 0) or not np.any(values > 0):
            raise ValueError(
                f"reference[{i}]: expected condition -> probability with at least one value > 0 "
                "and none negative or NaN, or None when the case has no reference; "
                f"found {len(ref)} entries without a usable probability"
            )
    return refs


def reference_matrix(
    reference: Sequence[dict[str, float] | None], labels: Sequence[str]
) -> np.ndarray:
    """Turn reference differentials into soft targets aligned with ``labels``.

    Models that learn from the reference differential (not only the single ground truth)
    need it as a probability row per case. Conditions not in ``labels`` are dropped and the
    rest renormalised to sum to 1. A case with no reference, or whose reference holds no
    known label, gets an all-zero row, so callers can mask with ``m.sum(axis=1) > 0``.

    Returns:
        Array of shape (n_cases, n_labels), float64.

    >>> reference_matrix([{"flu": 0.6, "cold": 0.2, "rare": 0.2}, None], ["cold", "flu"])
    array([[0.25, 0.75],
           [0.  , 0.  ]])
    """
    index = _check_labels(labels, None)
    refs = _check_reference(reference, len(reference))
    out = np.zeros((len(refs), len(labels)))  # (n, c)
    for i, ref in enumerate(refs):
        for name, p in (ref or {}).items():
            j = index.get(name)
            if j is not None:
                out[i, j] = p
    sums = out.sum(axis=1, keepdims=True)
    np.divide(out, sums, out=out, where=sums > 0)
    return out


def differential_metrics(
    proba: npt.ArrayLike,
    labels: Sequence[str],
    y_true: Sequence[str],
    reference: Sequence[dict[str, float] | None],
    threshold: float = 0.01,
    ks: Sequence[int] = (1,),
) -> dict[str, float]:
    """GTPA@k, GTPA, DDR, DDP and DDF1 as defined in the DDXPlus paper.

    Args:
        proba: predicted probabilities, shape (n_cases, n_labels).
        labels: condition name of each column of ``proba``.
        y_true: ground-truth condition name per case; a name not in ``labels`` is a miss.
        reference: reference differential per case (condition -> probability) or None.
        threshold: minimum predicted probability for a label to enter the differential.
        ks: which GTPA@k to report (keys ``gtpa1``, ``gtpa3``, ...).

    Returns:
        ``gtpa{k}`` for each k and ``gtpa``; ``ddr``, ``ddp``, ``ddf1`` unless every
        reference is None.

    >>> m = differential_metrics(
    ...     [[0.7, 0.3, 0.0], [0.2, 0.5, 0.3]], ["a", "b", "c"], ["a", "c"],
    ...     [{"a": 0.9, "c": 0.1}, {"b": 0.6, "c": 0.4}])
    >>> {k: round(v, 3) for k, v in m.items()}
    {'gtpa1': 0.5, 'gtpa': 1.0, 'ddr': 0.75, 'ddp': 0.583, 'ddf1': 0.656}
    """
    p = np.asarray(proba, dtype=np.float64)
    index = _check_labels(labels, p.shape[1] if p.ndim == 2 else None)
    y = np.array([index.get(name, UNSEEN) for name in y_true], dtype=np.int64)
    y, p = check_inputs(y, p)
    refs = _check_reference(reference, p.shape[0])
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold: expected a probability in (0, 1]; found {threshold}")

    order = np.argsort(-p, axis=1, kind="stable")  # (n, c), most probable first
    out: dict[str, float] = {}
    for k in ks:
        if k < 1:
            raise ValueError(f"ks: expected integers >= 1; found {k}")
        out[f"gtpa{k}"] = float(np.mean(np.any(order[:, :k] == y[:, None], axis=1)))
    in_diff = p >= threshold  # (n, c) predicted differential as a mask
    seen = y != UNSEEN
    out["gtpa"] = float(np.mean(seen & in_diff[np.arange(len(y)), np.maximum(y, 0)]))

    recalls: list[float] = []
    precisions: list[float] = []
    names = np.asarray(labels, dtype=object)
    for i, ref in enumerate(refs):
        if ref is None:
            continue
        ref_set = {name for name, q in ref.items() if q > 0}
        pred_set = set(names[in_diff[i]].tolist())
        hit = len(pred_set & ref_set)
        recalls.append(hit / len(ref_set))
        precisions.append(hit / len(pred_set) if pred_set else 0.0)
    if recalls:
        ddr, ddp = float(np.mean(recalls)), float(np.mean(precisions))
        out["ddr"], out["ddp"] = ddr, ddp
        out["ddf1"] = 2 * ddr * ddp / (ddr + ddp) if ddr + ddp > 0 else 0.0
    return out
