"""One detector for the whole de-identification test session: building it costs seconds."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dxkit.deid.engine import Detector
from dxkit.deid.types import PhiKind

Found = list[tuple[PhiKind, str]]


@pytest.fixture(scope="session")
def detector() -> Detector:
    """The shared detector (Presidio analyzer, name lists and jieba load once)."""
    return Detector()


@pytest.fixture(scope="session")
def find(detector: Detector) -> Callable[[str], Found]:
    """What the detector finds in a text as (kind, exact text) pairs, in order.

    Comparing whole lists pins both the exact span of every identifier and the absence
    of anything else, so an over- or under-reaching pattern fails the test.
    """

    def run(text: str) -> Found:
        return [(span.kind, span.text(text)) for span in detector.detect(text)]

    return run
