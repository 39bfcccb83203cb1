"""Reading the service's recent answers and the clinicians' verdicts on them.

Only what the service stored is read: de-identified case JSON, the answer's top condition
and probability, abstention, and verdicts. Nothing is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dxkit.cases.schema import Case
from dxkit.errors import DataNotFoundError, InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from dxkit.service.storage.models import Prediction


@dataclass(frozen=True)
class LiveAnswer:
    """One stored answer: the case, what was predicted, and whether it proved right.

    ``correct`` is ``None`` without a verdict on the answer's top condition; a
    ``confirmed`` verdict on another condition makes it wrong.
    """

    stored_id: str
    case: Case | None
    patient_key: str | None
    top_condition: str
    top_probability: float
    abstained: bool
    correct: bool | None
    truth: str | None  # the confirmed or corrected condition, when a verdict names one
    created_at: dt.datetime


def open_database(url: str) -> sessionmaker[Session]:
    """A session factory for the service database at ``url``, which must exist already.

    Raises:
        DataNotFoundError: a SQLite file that does not exist, or a database without the
            service's tables.
        InputError: a malformed or unreachable URL.
    """
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from dxkit.service.storage.database import make_engine, make_session_factory, parse_url

    parsed = parse_url(url)
    database = parsed.database or ""
    local = parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if local and not Path(database).expanduser().is_file():
        raise DataNotFoundError(
            "--database",
            expected="the service's existing database",
            found=f"no SQLite file at {database}",
            fix="pass the URL the service runs with (DXKIT_DATABASE_URL)",
        )
    engine = make_engine(parsed)
    try:
        tables = set(inspect(engine).get_table_names())
    except SQLAlchemyError as exc:
        raise InputError(
            "--database",
            expected="a reachable database",
            found=f"connection failed ({type(exc).__name__})",
            fix="check the URL, the server and the credentials",
        ) from None
    if not {"cases", "predictions", "feedback"} <= tables:
        raise DataNotFoundError(
            "--database",
            expected="a dxkit service database (tables cases, predictions, feedback)",
            found="tables " + (", ".join(sorted(tables)) or "none"),
            fix="point --database at the service's database",
        )
    return make_session_factory(engine)


def _verdict(prediction: Prediction) -> tuple[bool | None, str | None]:
    """(correct, truth) from the latest verdict on ``prediction``."""
    if not prediction.feedback:
        return None, None
    latest = max(prediction.feedback, key=lambda f: f.created_at)
    if latest.verdict == "confirmed":
        return latest.condition == prediction.top_condition, latest.condition
    corrected = latest.corrected_condition
    if latest.condition == prediction.top_condition:
        return False, corrected
    return (corrected == prediction.top_condition if corrected else None), corrected


def load_answers(url: str, *, since_days: float | None = None) -> list[LiveAnswer]:
    """Stored answers (newest case first) of the last ``since_days`` days, or all."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from dxkit.service.storage.database import session_scope
    from dxkit.service.storage.models import Prediction

    if since_days is not None and not since_days > 0:
        raise InputError(
            "--since", expected="a number of days > 0", found=str(since_days), fix="e.g. 7"
        )
    query = select(Prediction).options(
        selectinload(Prediction.feedback), selectinload(Prediction.case)
    )
    if since_days is not None:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=since_days)
        query = query.where(Prediction.created_at >= since)
    answers = []
    with session_scope(open_database(url)) as session:
        for prediction in session.scalars(query.order_by(Prediction.created_at.desc())):
            correct, truth = _verdict(prediction)
            try:
                case: Case | None = prediction.case.case()
            except ValueError:  # stored by an older schema: keep the answer, skip the inputs
                case = None
            answers.append(
                LiveAnswer(
                    stored_id=prediction.case_id,
                    case=case,
                    patient_key=prediction.case.patient_key,
                    top_condition=prediction.top_condition,
                    top_probability=float(prediction.top_probability),
                    abstained=bool(prediction.abstained),
                    correct=correct,
                    truth=truth,
                    created_at=prediction.created_at,
                )
            )
    return answers
