"""Presidio's analyzer, imported without the transformers stack it never uses here.

``presidio_analyzer`` imports Hugging Face ``transformers`` and torch at import time for
its transformer NLP engines whenever they are installed: about 6 s of a 7 s import on 2
cores, paid by every ``dxkit deid`` and ``dxkit diagnose`` run. dxkit runs Presidio on
its no-op NLP engine, so this module imports Presidio while those two are hidden from the
import system; Presidio (and spaCy's thinc below it) then record them as unavailable,
exactly as on a machine without them. The hiding lasts only for that import and only for
a package not loaded yet: dxkit's own models import torch and transformers normally
before or after. Every dxkit module takes Presidio's names from here.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

_HEAVY = ("transformers", "torch")


class _Hide(importlib.abc.MetaPathFinder):
    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] in self.names:
            raise ImportError(f"{fullname} is not used by dxkit's de-identification")
        return None


def _import_presidio() -> None:
    hidden = tuple(name for name in _HEAVY if name not in sys.modules)
    if "presidio_analyzer" in sys.modules or not hidden:
        return
    finder = _Hide(hidden)
    sys.meta_path.insert(0, finder)
    try:
        import presidio_analyzer
        import presidio_analyzer.predefined_recognizers  # noqa: F401
    finally:
        sys.meta_path.remove(finder)


_import_presidio()

from presidio_analyzer import (  # noqa: E402
    AnalyzerEngine,
    EntityRecognizer,
    LocalRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine  # noqa: E402
from presidio_analyzer.predefined_recognizers import (  # noqa: E402
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    MacAddressRecognizer,
    MedicalLicenseRecognizer,
    SpacyRecognizer,
    UsSsnRecognizer,
    UuidRecognizer,
)

__all__ = [
    "AnalyzerEngine",
    "CreditCardRecognizer",
    "EmailRecognizer",
    "EntityRecognizer",
    "IbanRecognizer",
    "LocalRecognizer",
    "MacAddressRecognizer",
    "MedicalLicenseRecognizer",
    "NlpArtifacts",
    "NoOpNlpEngine",
    "Pattern",
    "PatternRecognizer",
    "RecognizerRegistry",
    "RecognizerResult",
    "SpacyRecognizer",
    "UsSsnRecognizer",
    "UuidRecognizer",
]
