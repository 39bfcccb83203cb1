"""Read endpoints of the web page: case history, dashboard and the observation catalogue.

``GET /v1/cases`` lists the newest stored cases the caller may see (admins: all; a
clinician: the patients in the token's context), de-identified and without any text:
age as stored ("90+" over 89), sex, the latest answer's top condition, triage and
whether the model referred. ``GET /v1/dashboard`` is live accuracy from clinicians'
feedback, the abstention rate and predictions by condition per day over the same cases,
so a clinician sees the track record of the answers they can check. Both are computed
by :mod:`dxkit.service.storage.repository`; the routes only shape them.

``GET /v1/observations/catalogue`` is the observation catalogue
(``resources/observations.yaml``): names in English and Chinese, LOINC codes, the
canonical UCUM unit with the accepted alternatives and the normal, unusual and
plausible ranges, so the page can offer vitals and labs by name and flag a value as
it is typed with exactly the ranges the service will apply.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from dxkit.service.auth import Principal
from dxkit.service.deps import AUTH_RESPONSES, CLINICIAN_ONLY, ClinicianDep, SessionsDep
from dxkit.service.errors import ErrorResponse
from dxkit.service.storage import session_scope
from dxkit.service.storage.repository import CaseSummary, dashboard_stats, recent_cases

router = APIRouter(
    prefix="/v1", tags=["web page"], dependencies=CLINICIAN_ONLY, responses=AUTH_RESPONSES
)
_ERRORS: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorResponse, "description": "invalid query parameters"},
    503: {"model": ErrorResponse, "description": "storage not open yet"},
}


class CaseListItem(BaseModel):
    """One stored case in the history: facts without text, and its latest answer."""

    id: str = Field(description="for GET /v1/cases/{id}")
    created_at: str
    age: int | str | None = Field(description="whole years; over 89 as '90+'")
    sex: str
    observations: int = Field(description="how many device or lab values it held")
    prediction_id: str | None
    top_condition: str | None
    top_probability: float | None
    triage: str | None
    abstained: bool | None
    feedback: int = Field(description="clinician verdicts given on its answers")


class CaseList(BaseModel):
    """A page of the history, newest first."""

    items: list[CaseListItem]
    total: int = Field(description="cases visible to the caller in all")
    offset: int
    limit: int


class ConditionAccuracy(BaseModel):
    """Clinicians' verdicts on one condition (``other`` counts as rejected)."""

    condition: str
    confirmed: int
    rejected: int
    accuracy: float | None = Field(description="confirmed / judged; null before feedback")


class DayCount(BaseModel):
    """Answers given on one UTC day, by top condition."""

    day: str = Field(description="YYYY-MM-DD (UTC)")
    counts: dict[str, int]


class Dashboard(BaseModel):
    """Live accuracy, abstention rate and predictions over time, for the visible cases."""

    days: int
    predictions: int
    abstained: int
    abstention_rate: float | None = Field(description="abstained / predictions; null if none")
    confirmed: int
    rejected: int
    accuracy: float | None = Field(description="confirmed / judged over all conditions")
    by_condition: list[ConditionAccuracy]
    per_day: list[DayCount]


class UnitOption(BaseModel):
    """An accepted unit and its conversion: ``canonical = value * factor + offset``."""

    unit: str
    factor: float
    offset: float


class CatalogueEntry(BaseModel):
    """One observation the service understands, with the ranges it applies."""

    key: str
    loinc: str
    name: str
    name_zh: str
    unit: str = Field(description="canonical UCUM unit")
    units: list[UnitOption] = Field(description="all accepted units, canonical first")
    normal: tuple[float, float]
    unusual: tuple[float, float] = Field(description="outside: a data-quality warning")
    plausible: tuple[float, float] = Field(description="outside: refused as impossible")


def _visible_keys(principal: Principal) -> frozenset[str] | None:
    return None if principal.is_admin else principal.patient_keys


def _item(summary: CaseSummary) -> CaseListItem:
    case, latest = summary.case.case_json, summary.latest
    return CaseListItem(
        id=summary.case.id,
        created_at=summary.case.created_at.isoformat(),
        age=case.get("age"),
        sex=str(case.get("sex") or "unknown"),
        observations=len(case.get("observations") or []),
        prediction_id=latest.id if latest else None,
        top_condition=latest.top_condition if latest else None,
        top_probability=latest.top_probability if latest else None,
        triage=latest.triage if latest else None,
        abstained=latest.abstained if latest else None,
        feedback=summary.feedback,
    )


def _list(
    sessions: sessionmaker[Session], keys: frozenset[str] | None, limit: int, offset: int
) -> CaseList:
    with session_scope(sessions) as session:
        found, total = recent_cases(session, keys, limit=limit, offset=offset)
        items = [_item(s) for s in found]
    return CaseList(items=items, total=total, offset=offset, limit=limit)


@router.get(
    "/cases",
    summary="Recent cases the caller may see (de-identified)",
    response_model=CaseList,
    responses=_ERRORS,
)
async def list_cases(
    sessions: SessionsDep,
    principal: ClinicianDep,
    limit: Annotated[int, Query(ge=1, le=100, description="cases per page")] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000, description="cases to skip")] = 0,
) -> CaseList:
    """Newest first; no note text and no patient id, only the latest answer's summary."""
    keys = _visible_keys(principal)
    return await anyio.to_thread.run_sync(_list, sessions, keys, limit, offset)


def _dashboard(
    sessions: sessionmaker[Session], keys: frozenset[str] | None, days: int
) -> Dashboard:
    with session_scope(sessions) as session:
        stats = dashboard_stats(session, keys, days=days)
    confirmed = sum(c.confirmed for c in stats.accuracy.values())
    rejected = sum(c.rejected for c in stats.accuracy.values())
    return Dashboard(
        days=days,
        predictions=stats.predictions,
        abstained=stats.abstained,
        abstention_rate=stats.abstained / stats.predictions if stats.predictions else None,
        confirmed=confirmed,
        rejected=rejected,
        accuracy=confirmed / (confirmed + rejected) if confirmed + rejected else None,
        by_condition=[
            ConditionAccuracy(
                condition=name, confirmed=c.confirmed, rejected=c.rejected, accuracy=c.accuracy
            )
            for name, c in stats.accuracy.items()
        ],
        per_day=[DayCount(day=day, counts=counts) for day, counts in stats.per_day.items()],
    )


@router.get(
    "/dashboard",
    summary="Live accuracy, abstention rate and predictions by condition per day",
    response_model=Dashboard,
    responses=_ERRORS,
)
async def dashboard(
    sessions: SessionsDep,
    principal: ClinicianDep,
    days: Annotated[int, Query(ge=1, le=365, description="window of the daily counts")] = 30,
) -> Dashboard:
    """Over the cases the caller may see: feedback-based accuracy and answer counts."""
    keys = _visible_keys(principal)
    return await anyio.to_thread.run_sync(_dashboard, sessions, keys, days)


@router.get(
    "/observations/catalogue",
    summary="Observations the service understands, with units and ranges",
    response_model=list[CatalogueEntry],
)
async def observation_catalogue() -> list[CatalogueEntry]:
    """Every catalogue entry, in the catalogue's order (vital signs first)."""
    from dxkit.quality.catalogue import catalogue_by_key

    return [
        CatalogueEntry(
            key=spec.key,
            loinc=spec.loinc,
            name=spec.name,
            name_zh=spec.name_zh,
            unit=spec.unit,
            units=[
                UnitOption(unit=spec.unit, factor=1.0, offset=0.0),
                *(
                    UnitOption(unit=unit, factor=c.factor, offset=c.offset)
                    for unit, c in spec.units.items()
                ),
            ],
            normal=spec.normal,
            unusual=spec.unusual,
            plausible=spec.plausible,
        )
        for spec in catalogue_by_key().values()
    ]
