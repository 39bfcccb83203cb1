"""Fixtures of the LLM tests: one tiny OpenAI-compatible server per session, a case, an answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tiny_llm_server import ServerThread, make_client

from dxkit.cases.schema import Case, Observation
from dxkit.knowledge.schema import Triage
from dxkit.models.llm import LLMClient
from dxkit.report.differential import Differential, ModelInfo, RankedCondition
from dxkit.triage.combine import TriageDecision


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ServerThread]:
    with ServerThread() as server:
        yield server


@pytest.fixture
def server(llm_server: ServerThread) -> ServerThread:
    """The session's server with its knobs reset and its request record emptied."""
    llm_server.state.reset()
    return llm_server


@pytest.fixture
def client(server: ServerThread) -> Iterator[LLMClient]:
    c = make_client(server.url, timeout_s=20.0, backoff_s=0.01)
    yield c
    c.close()


@pytest.fixture
def case() -> Case:
    return Case(
        case_id="llm-1",
        age=58,
        sex="male",
        notes="Fever and productive cough for 4 days, short of breath on stairs.",
        observations=[
            Observation(code="8310-5", value=38.9, unit="Cel"),
            Observation(code="9279-1", value=26, unit="/min"),
        ],
        deidentified=True,
    )


def _cond(name: str, label: str, icd10: str, p: float, triage: Triage) -> RankedCondition:
    return RankedCondition(name=name, label=label, icd10=icd10, probability=p, triage=triage)


@pytest.fixture
def answer() -> Differential:
    return Differential(
        case_id="llm-1",
        age=58,
        sex="male",
        conditions=[
            _cond("Community-acquired pneumonia", "pneumonia", "J18.9", 0.6, Triage.urgent),
            _cond("Acute bronchitis", "acute_bronchitis", "J20.9", 0.25, Triage.self_care),
            _cond("Pulmonary embolism", "pulmonary_embolism", "I26.9", 0.1, Triage.emergency),
        ],
        triage=TriageDecision(level=Triage.urgent, reason="pneumonia is urgent", news2=3),
        alpha=0.1,
        prediction_set=["Community-acquired pneumonia", "Acute bronchitis"],
        model=ModelInfo(kind="tfidf", dxkit_version="test", n_labels=40),
    )
