"""Fixtures of the monitoring tests: a tiny model with its reference, a filled service DB."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from rich.console import Console

from dxkit.cases.schema import LabeledCase
from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.models.base import load_model
from dxkit.monitor.profile import build_reference, write_reference
from dxkit.pipeline import fit_model
from dxkit.report.diagnose import diagnose
from dxkit.service.storage import (
    make_session_factory,
    migrate,
    pseudonym,
    record_feedback,
    session_scope,
    store_case_and_prediction,
)
from dxkit.service.storage.database import make_engine

SECRET = "monitor-test-secret-0123456789"
Fill = Callable[..., str]


@pytest.fixture(scope="package")
def cohort(tiny_kb: KnowledgeBase) -> list[LabeledCase]:
    """Training cases of the tiny knowledge base (patients repeat, so splits group them)."""
    return CohortGenerator(CohortConfig(n=160, seed=0, zh_fraction=0.0), tiny_kb).generate()


@pytest.fixture(scope="package")
def model_dir(tmp_path_factory: pytest.TempPathFactory, cohort: list[LabeledCase]) -> Path:
    """A small TF-IDF model trained on ``cohort``, with its reference.json."""
    out = tmp_path_factory.mktemp("monitored") / "model"
    model, _ = fit_model(
        "tfidf", cohort, seed=0, console=Console(quiet=True), soft=False, calibrate=False
    )
    model.save(out)
    write_reference(out, build_reference(load_model(out), cohort))
    return out


def fill_database(
    url: str, model_dir: Path, cases: Sequence[LabeledCase], verdict: str = "truth"
) -> None:
    """Answer ``cases`` with the model and store them as the service does, with feedback.

    ``verdict``: ``truth`` judges each answer against the case's label (confirmed, or
    ``other`` with the label's name as corrected condition), ``reject`` rejects every one,
    ``none`` leaves them unjudged.
    """
    migrate(url)
    model = load_model(model_dir)
    answers = diagnose(model, [lc.case for lc in cases], top=3, strict=False)
    names = {c.label: c.name for a in answers for c in a.conditions}
    factory = make_session_factory(make_engine(url))
    doctor = pseudonym("doctor-1", SECRET)
    with session_scope(factory) as session:
        for lc, answer in zip(cases, answers, strict=True):
            ids = store_case_and_prediction(session, lc.case, answer, None, SECRET)
            if verdict == "none":
                continue
            truth = names.get(lc.label, lc.label)
            if verdict == "reject":
                record_feedback(session, prediction_id=ids.prediction_id, verdict="rejected",
                                clinician_key=doctor)  # fmt: skip
            elif answer.top.name == truth:
                record_feedback(session, prediction_id=ids.prediction_id, verdict="confirmed",
                                clinician_key=doctor)  # fmt: skip
            else:
                record_feedback(session, prediction_id=ids.prediction_id, verdict="other",
                                corrected_condition=truth, clinician_key=doctor)  # fmt: skip


@pytest.fixture
def filled(tmp_path: Path, model_dir: Path) -> Fill:
    """Fills a fresh SQLite service DB in tmp_path and returns its URL."""

    def fill(cases: Sequence[LabeledCase], verdict: str = "truth", name: str = "db") -> str:
        url = f"sqlite:///{tmp_path / f'{name}.sqlite3'}"
        fill_database(url, model_dir, cases, verdict)
        return url

    return fill
