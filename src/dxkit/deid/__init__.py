"""De-identification of patient text: find identifiers, replace them, measure how well.

The heavy parts (Presidio, jieba, the name lists) load only when a detector is first
used, so importing :mod:`dxkit.deid.types` elsewhere costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dxkit.deid.types import PhiKind, PhiSpan

if TYPE_CHECKING:
    from dxkit.deid.cases import deidentify_case, deidentify_cases
    from dxkit.deid.engine import Detector
    from dxkit.deid.replace import Deidentifier, DeidResult, Policy

__all__ = [
    "DeidResult",
    "Deidentifier",
    "Detector",
    "PhiKind",
    "PhiSpan",
    "Policy",
    "deidentify_case",
    "deidentify_cases",
]

_LAZY = {
    "Detector": "dxkit.deid.engine",
    "Deidentifier": "dxkit.deid.replace",
    "DeidResult": "dxkit.deid.replace",
    "Policy": "dxkit.deid.replace",
    "deidentify_case": "dxkit.deid.cases",
    "deidentify_cases": "dxkit.deid.cases",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dxkit.deid' has no attribute {name!r}")
