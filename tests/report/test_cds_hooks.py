"""Differential -> CDS Hooks 2.0 cards and discovery, checked against the spec's shapes."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from dxkit.knowledge.schema import Triage
from dxkit.report.cds_hooks import (
    PREFETCH,
    SUMMARY_MAX,
    CdsRequest,
    detail,
    differential_card,
    discovery,
    summary,
)
from dxkit.report.differential import Differential, ModelInfo, RankedCondition
from dxkit.triage.combine import TriageDecision

# From https://cds-hooks.hl7.org/2.0/ (Card, Source, Link and Discovery attributes).
CARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["summary", "indicator", "source"],
    "properties": {
        "uuid": {"type": "string"},
        "summary": {"type": "string", "minLength": 1, "maxLength": SUMMARY_MAX - 1},
        "detail": {"type": "string"},
        "indicator": {"enum": ["info", "warning", "critical"]},
        "source": {
            "type": "object",
            "required": ["label"],
            "properties": {
                "label": {"type": "string", "minLength": 1},
                "url": {"type": "string", "format": "uri"},
                "icon": {"type": "string"},
            },
        },
        "suggestions": {"type": "array"},
        "selectionBehavior": {"enum": ["at-most-one", "any"]},
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["label", "url", "type"],
                "properties": {
                    "label": {"type": "string"},
                    "url": {"type": "string", "pattern": "^https?://"},
                    "type": {"enum": ["absolute", "smart"]},
                },
            },
        },
    },
}
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["cards"],
    "properties": {"cards": {"type": "array", "items": CARD_SCHEMA}},
}
DISCOVERY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["services"],
    "properties": {
        "services": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["hook", "description", "id"],
                "properties": {
                    "hook": {"type": "string"},
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "id": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"},
                    "prefetch": {"type": "object", "additionalProperties": {"type": "string"}},
                    "usageRequirements": {"type": "string"},
                },
            },
        }
    },
}

DOCS = "https://dx.example/docs"


def differential(level: str = "urgent", name: str = "Pneumonia", **extra: Any) -> Differential:
    return Differential(
        case_id="c1",
        conditions=[
            RankedCondition(name=name, icd10="J18.9", probability=0.62, triage="urgent"),
            RankedCondition(name="Common cold", probability=0.38),
        ],
        triage=TriageDecision(level=level, reason="because"),
        model=ModelInfo(kind="tfidf", dxkit_version="0.1", n_labels=2, model_id="m-1"),
        **extra,
    )


def card_json(diff: Differential, **kwargs: Any) -> dict[str, Any]:
    return differential_card(diff, **kwargs).model_dump(mode="json", exclude_none=True)


@pytest.mark.parametrize(
    ("level", "indicator"),
    [("emergency", "critical"), ("urgent", "warning"), ("routine", "info"), ("self-care", "info")],
)
def test_indicator_follows_the_triage_level(level: str, indicator: str) -> None:
    card = card_json(differential(level))
    jsonschema.validate({"cards": [card]}, RESPONSE_SCHEMA)
    assert card["indicator"] == indicator
    assert card["source"]["label"] == "dxkit"


def test_every_triage_level_has_an_indicator() -> None:
    for level in Triage:
        assert card_json(differential(level.value))["indicator"]


def test_summary_stays_under_140_characters_for_long_names() -> None:
    text = summary(differential(name="A very long condition name " * 10))
    assert len(text) < SUMMARY_MAX
    assert text.endswith("…")
    jsonschema.validate({"cards": [card_json(differential(name="x" * 300))]}, RESPONSE_SCHEMA)


def test_detail_has_the_differential_set_abstention_and_disclaimer() -> None:
    diff = differential(
        alpha=0.1, prediction_set=["Pneumonia"], abstain=True, abstain_reason="too uncertain"
    )
    text = detail(diff)
    assert "| 1 | Pneumonia | J18.9 | 62% |" in text
    assert "| 2 | Common cold | - | 38% |" in text
    assert "**90% prediction set:** Pneumonia" in text
    assert "Referral advised" in text and "too uncertain" in text
    assert "Decision support only" in text
    assert summary(diff).startswith("dxkit: uncertain differential")


def test_links_are_absolute_docs_urls_or_absent() -> None:
    assert "links" not in card_json(differential())
    card = card_json(differential(), docs_url=DOCS)
    jsonschema.validate({"cards": [card]}, RESPONSE_SCHEMA)
    assert card["links"] == [
        {
            "label": "dxkit service documentation",
            "url": "https://dx.example/docs",
            "type": "absolute",
        }
    ]


def test_discovery_matches_the_spec_shape_and_prefetch_templates() -> None:
    document = discovery().model_dump(mode="json", exclude_none=True)
    jsonschema.validate(document, DISCOVERY_SCHEMA)
    (service,) = document["services"]
    assert service["hook"] == "patient-view"
    assert service["id"] == "dxkit-differential"
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert service["prefetch"]["vitals"] == (
        "Observation?patient={{context.patientId}}&category=vital-signs&_sort=-date&_count=50"
    )
    assert set(PREFETCH) >= {"patient", "vitals"}


def test_request_model_requires_hook_instance_and_patient() -> None:
    good = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "extension": {"ignored": True},
    }
    assert CdsRequest.model_validate(good).context.patientId == "p1"
    with pytest.raises(ValueError, match="patientId"):
        CdsRequest.model_validate({**good, "context": {"userId": "Practitioner/1"}})
    with pytest.raises(ValueError, match="hook"):
        CdsRequest.model_validate({**good, "hook": "order-select"})
