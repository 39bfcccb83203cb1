"""Fixtures of the storage tests: a migrated SQLite file and a tiny answered case."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dxkit.cases.schema import Case
from dxkit.knowledge.schema import Triage
from dxkit.report.differential import Differential, ModelInfo, RankedCondition
from dxkit.service.storage import make_engine, make_session_factory, migrate
from dxkit.triage.combine import TriageDecision

PATIENT_ID = "patient-4711-raw"


@pytest.fixture
def storage_engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file brought to the newest schema by the migrations."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'dxkit.sqlite3'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def storage_sessions(storage_engine: Engine) -> sessionmaker[Session]:
    """Sessions over the migrated database."""
    return make_session_factory(storage_engine)


def _case(notes: str = "fever and cough for three days") -> Case:
    return Case(case_id="c-1", patient_id=PATIENT_ID, age=93, sex="f", notes=notes)


def _answer(case_id: str = "c-1") -> Differential:
    return Differential(
        case_id=case_id,
        conditions=[
            RankedCondition(name="Pneumonia", label="pneumonia", probability=0.7),
            RankedCondition(name="Bronchitis", label="bronchitis", probability=0.2),
        ],
        triage=TriageDecision(level=Triage.urgent, reason="fever with cough"),
        prediction_set=["Pneumonia", "Bronchitis"],
        model=ModelInfo(
            kind="tfidf",
            dxkit_version="0.1.0",
            n_labels=2,
            model_id="abc123def456",
            trained_at="2026-01-02T03:04:05+00:00",
        ),
    )


@pytest.fixture
def storage_case() -> Callable[..., Case]:
    """Builds a small case of patient ``patient-4711-raw`` with the given notes."""
    return _case


@pytest.fixture
def storage_answer() -> Callable[..., Differential]:
    """Builds a two-condition answer (Pneumonia 0.7, Bronchitis 0.2) for a case id."""
    return _answer
