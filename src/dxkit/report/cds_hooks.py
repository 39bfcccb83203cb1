"""A differential as CDS Hooks 2.0 cards, and the service's discovery document.

Why cards: CDS Hooks (https://cds-hooks.hl7.org/2.0/) is how an EHR shows third-party
decision support inside its own screens. A card has a one-line ``summary`` (under 140
characters), an ``indicator`` (info, warning, critical) that the EHR uses to decide how
loudly to show it, a ``source`` naming who says so, and a markdown ``detail``. The
indicator follows the triage level, so an emergency-level differential is the only kind
of card an EHR renders as critical. The pydantic models below follow the spec's JSON
shapes and give the service its OpenAPI schema.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dxkit.knowledge.schema import Triage
from dxkit.report.differential import Differential

SERVICE_ID = "dxkit-differential"
HOOK = "patient-view"
SUMMARY_MAX = 140  # CDS Hooks 2.0, Card.summary: "SHALL be less than 140 characters"
Indicator = Literal["info", "warning", "critical"]

INDICATOR: dict[Triage, Indicator] = {
    Triage.emergency: "critical",
    Triage.urgent: "warning",
    Triage.routine: "info",
    Triage.self_care: "info",
}

# Prefetch templates: the patient and the recent vital signs are required; conditions
# and notes add history and free text when the EHR can supply them.
PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "vitals": "Observation?patient={{context.patientId}}&category=vital-signs"
    "&_sort=-date&_count=50",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "notes": "DocumentReference?patient={{context.patientId}}&_sort=-date&_count=5",
}
REQUIRED_PREFETCH = ("patient", "vitals")


class CdsSource(BaseModel):
    """Who the card comes from (the EHR shows the label)."""

    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None


class CdsLink(BaseModel):
    """A link the EHR may show on the card (absolute URL)."""

    label: str = Field(min_length=1)
    url: str = Field(min_length=1)
    type: Literal["absolute", "smart"] = "absolute"


class CdsCard(BaseModel):
    """One card: summary, indicator, source, markdown detail and links."""

    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=SUMMARY_MAX - 1)
    detail: str | None = None
    indicator: Indicator
    source: CdsSource
    links: list[CdsLink] | None = None


class CdsResponse(BaseModel):
    """A hook's answer: zero or more cards."""

    cards: list[CdsCard]


class CdsService(BaseModel):
    """One entry of the discovery document."""

    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class CdsDiscovery(BaseModel):
    """``GET /cds-services``: the services this server offers."""

    services: list[CdsService]


class CdsContext(BaseModel):
    """``patient-view`` context: the user and the patient whose chart was opened."""

    model_config = ConfigDict(extra="allow")  # the spec lets hooks add context fields
    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1)
    encounterId: str | None = None


class CdsRequest(BaseModel):
    """A hook call. Extra top-level fields are ignored: the spec allows extensions."""

    model_config = ConfigDict(extra="ignore")
    hook: Literal["patient-view"]
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None
    context: CdsContext
    prefetch: dict[str, Any] | None = None


def discovery(usage: str | None = None) -> CdsDiscovery:
    """The discovery document: one ``patient-view`` service with its prefetch templates."""
    return CdsDiscovery(
        services=[
            CdsService(
                hook=HOOK,
                id=SERVICE_ID,
                title="dxkit differential diagnosis",
                description="Ranked differential diagnosis with probabilities, a calibrated "
                "prediction set and triage, from the patient's recent vital signs, active "
                "conditions and notes. Decision support only.",
                prefetch=dict(PREFETCH),
                usageRequirements=usage
                or "Requires the patient and vitals prefetch; the service does not query "
                "the FHIR server.",
            )
        ]
    )


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def summary(diff: Differential) -> str:
    """One line under 140 characters: top condition, probability and disposition."""
    top = diff.top
    level = diff.triage.level.value
    if diff.abstain:
        text = f"dxkit: uncertain differential (top {top.name} {_pct(top.probability)}); {level}"
    else:
        text = f"dxkit: {top.name} most likely ({_pct(top.probability)}); triage {level}"
    if len(text) >= SUMMARY_MAX:
        text = text[: SUMMARY_MAX - 2] + "…"
    return text


def detail(diff: Differential) -> str:
    """Markdown: the differential table, the prediction set, abstention and disclaimer."""
    lines = ["| # | Condition | ICD-10 | Probability |", "|---|---|---|---|"]
    for rank, cond in enumerate(diff.conditions, start=1):
        lines.append(f"| {rank} | {cond.name} | {cond.icd10 or '-'} | {_pct(cond.probability)} |")
    lines.append("")
    lines.append(f"**Triage:** {diff.triage.level.value}. {diff.triage.reason}")
    if diff.alpha is not None:
        members = ", ".join(diff.prediction_set) or "none"
        lines.append("")
        lines.append(
            f"**{_pct(1 - diff.alpha)} prediction set:** {members} (contains the true "
            f"diagnosis with probability at least {_pct(1 - diff.alpha)} on data like the "
            "model's calibration set)."
        )
    if diff.abstain:
        reason = diff.abstain_reason or "the model is not confident enough"
        lines.append("")
        lines.append(f"**Referral advised:** the model abstains ({reason}).")
    if diff.warnings:
        lines.append("")
        lines.append("**Data quality:** " + "; ".join(w.message for w in diff.warnings))
    lines.append("")
    lines.append(f"*{diff.disclaimer}* Model: {diff.model.kind} {diff.model.model_id}.")
    return "\n".join(lines)


def differential_card(
    diff: Differential, *, source_url: str | None = None, docs_url: str | None = None
) -> CdsCard:
    """The differential as one card; the indicator comes from the triage level.

    Args:
        diff: the differential to show.
        source_url: an absolute URL about dxkit for ``source.url`` (none: left out).
        docs_url: an absolute URL of the service's documentation, shown as a link.
    """
    links = [CdsLink(label="dxkit service documentation", url=docs_url)] if docs_url else None
    return CdsCard(
        uuid=str(uuid.uuid4()),
        summary=summary(diff),
        detail=detail(diff),
        indicator=INDICATOR[diff.triage.level],
        source=CdsSource(label="dxkit", url=source_url),
        links=links,
    )
