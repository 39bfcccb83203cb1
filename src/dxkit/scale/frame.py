"""One pandas batch in, one pandas batch of answers out: the scoring step every engine runs.

Why one function: the local engine, the Ray actors and the Spark Python workers all call
:func:`score_frame` on the batches their engine hands them, so the same case gets the same
answer on every engine. Two details make the answer independent of how an engine cuts the
input into batches:

* rows are turned into :class:`~dxkit.cases.schema.Case` objects by the converters of
  :mod:`dxkit.inference.readers` (the same rules as ``dxkit score``), after the engine's
  own types (numpy arrays, NaN, JSON strings from Spark's ``to_json``) are made plain;
* the conformal set is drawn for each case on its own, as ``dxkit diagnose`` does for a
  single case, because the randomised set of a batch depends on the case's position.

Input frames come in three layouts (see :mod:`dxkit.scale.sources`): ``jsonl`` (one column
of raw JSON lines), ``records`` (one column per case field, nested fields as structs or
JSON strings) and ``flat`` (a CSV-like table read through a column mapping).

Worker errors cross process boundaries as text only (Ray and Spark re-raise their own
exception types), so :func:`worker_error` packs the error into a marked JSON string and
:func:`driver_error` unpacks it again on the driver.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dxkit.cases.schema import Case
from dxkit.errors import DxkitError, InputError

OUTPUT_COLUMNS = (
    "case_id",
    "diagnosis",
    "probability",
    "top",
    "prediction_set",
    "abstain",
    "abstain_reason",
    "model_id",
    "model_trained_at",
)
SPARK_SCHEMA = (
    "case_id string, diagnosis string, probability double, top string, "
    "prediction_set string, abstain boolean, abstain_reason string, "
    "model_id string, model_trained_at string"
)
_MARK = "DXKIT-WORKER-ERROR::"
_NESTED = ("lifestyle", "history", "observations")
Loader = Callable[[Path], Any]


@dataclass
class LoadedModel:
    """A model with what every batch needs, built once per worker process."""

    model: Any
    emergencies: set[str]
    model_id: str
    trained_at: str | None


_CACHE: dict[tuple[str, str, str], LoadedModel] = {}


def manifest_id(model_dir: Path) -> str:
    """The model id ``load_model`` gives: the first 12 hex digits of the manifest's sha256."""
    return hashlib.sha256((Path(model_dir) / "dxkit-model.json").read_bytes()).hexdigest()[:12]


def default_loader(model_dir: Path) -> Any:
    """The model on its fastest backend for bulk work (ONNX int8 when exported)."""
    from dxkit.inference.backends import select_backend

    return select_backend(model_dir, mode="throughput")


def load_cached(model_dir: Path, loader: Loader | None = None) -> LoadedModel:
    """Load ``model_dir`` once per process (keyed by path, model id and loader), then reuse it."""
    from dxkit.knowledge.loader import load_knowledge_base
    from dxkit.report.diagnose import emergency_labels

    how = "" if loader is None else f"{loader.__module__}.{loader.__qualname__}"
    key = (str(Path(model_dir).resolve()), manifest_id(model_dir), how)
    if key not in _CACHE:
        model = (loader or default_loader)(Path(model_dir))
        emergencies = emergency_labels(model.labels, load_knowledge_base())
        model_id = str(getattr(model, "model_id", key[1]))
        _CACHE[key] = LoadedModel(model, emergencies, model_id, getattr(model, "trained_at", None))
    return _CACHE[key]


def _plain(value: Any) -> Any:
    """Engine values as JSON-like Python: arrays to lists, NaN/NA to None, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if _plain(v) is not None}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is not None and type(value).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    return value


def frame_cases(frame: Any, layout: str) -> list[Case]:
    """Cases from one engine batch of the given layout (see module)."""
    from dxkit.inference import readers

    cases: list[Case] = []
    columns = [str(c) for c in frame.columns]
    if layout == "jsonl":
        for line in frame[columns[0]]:
            record = json.loads(line)
            where = f"case {record.get('case_id', '?')}" if isinstance(record, dict) else "a line"
            if not isinstance(record, dict):
                raise InputError(
                    "JSONL file", expected="one JSON object per line", found=where, fix="fix it"
                )
            cases.append(readers._record_case(record, where))
        return cases
    if layout == "records":
        for row in frame.to_dict("records"):
            record = {k: _plain(v) for k, v in row.items()}
            for name in _NESTED:
                if isinstance(record.get(name), str):  # Spark hands nested columns as JSON
                    record[name] = json.loads(record[name])
            where = f"case {record.get('case_id', '?')}"
            cases.append(readers._record_case(record, where))
        return cases
    mapping = readers._mapping(columns, "input")
    for index, row in enumerate(frame.to_dict("records")):
        plain = {k: _plain(v) for k, v in row.items()}
        cases.append(readers._row_case(plain, mapping, index, f"case {plain.get('case_id', '?')}"))
    return cases


def score_frame(loaded: LoadedModel, frame: Any, *, layout: str, top: int) -> Any:
    """Score one batch: a pandas frame with :data:`OUTPUT_COLUMNS`, one row per case."""
    import pandas as pd

    from dxkit.calibrate.conformal import abstain
    from dxkit.calibrate.temperature import subgroup_key
    from dxkit.quality.validate import validate_case

    cases = [validate_case(case).case for case in frame_cases(frame, layout)]
    model = loaded.model
    labels = list(model.labels)
    proba = np.asarray(model.predict_proba(cases), dtype=np.float64) if cases else np.zeros((0, 1))
    order = np.argsort(-proba, axis=1, kind="stable")[:, :top]
    conformal = getattr(model, "conformal", None)
    rows: list[dict[str, Any]] = []
    for case, p, best in zip(cases, proba, order, strict=True):
        ranked = [[labels[i], float(p[i])] for i in best]
        members: list[int] | None = None
        refer, why = False, ""
        if conformal is not None:  # one case at a time: see module
            members = conformal.predict_sets(p[None, :], [subgroup_key(case)])[0]
            level = 1 - float(conformal.alpha)
            refer, why = abstain(p, members, labels, loaded.emergencies, level=level)
        rows.append(
            {
                "case_id": case.case_id,
                "diagnosis": ranked[0][0],
                "probability": ranked[0][1],
                "top": json.dumps(ranked, ensure_ascii=False),
                "prediction_set": None
                if members is None
                else json.dumps([labels[i] for i in members], ensure_ascii=False),
                "abstain": bool(refer),
                "abstain_reason": why,
                "model_id": loaded.model_id,
                "model_trained_at": loaded.trained_at,
            }
        )
    result = pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))
    result["probability"] = result["probability"].astype("float64")
    result["abstain"] = result["abstain"].astype("bool")
    return result


def output_schema() -> Any:
    """The Arrow schema of every engine's output (typed even when a column is all null)."""
    import pyarrow as pa  # type: ignore[import-untyped]

    types = {"probability": pa.float64(), "abstain": pa.bool_()}
    return pa.schema([(c, types.get(c, pa.string())) for c in OUTPUT_COLUMNS])


def to_arrow(result: Any) -> Any:
    """A :func:`score_frame` result as an Arrow table of :func:`output_schema`."""
    import pyarrow as pa

    return pa.Table.from_pandas(result, output_schema(), preserve_index=False)


def worker_error(exc: BaseException) -> RuntimeError:
    """A RuntimeError whose text carries ``exc`` for :func:`driver_error` (never notes)."""
    if isinstance(exc, DxkitError):
        payload = {
            "what": exc.what,
            "expected": exc.expected,
            "found": exc.found,
            "fix": exc.fix,
            "input": isinstance(exc, InputError),
        }
    else:  # an arbitrary exception's text may quote a case: keep its type only
        payload = {
            "what": "scoring worker",
            "expected": "every batch scored",
            "found": f"a worker failed with {type(exc).__name__}",
            "fix": "check the model directory and the input rows, then rerun "
            "(the run starts clean; nothing partial was kept)",
            "input": False,
        }
    return RuntimeError(_MARK + json.dumps(payload) + _MARK)


def driver_error(exc: BaseException, engine: str) -> DxkitError:
    """The dxkit error packed by :func:`worker_error` into an engine's exception text."""
    text = str(exc)
    start = text.find(_MARK)
    end = text.find(_MARK, start + len(_MARK)) if start >= 0 else -1
    if start >= 0 and end > start:
        try:
            data = json.loads(text[start + len(_MARK) : end].replace('\\"', '"'))
            cls = InputError if data.pop("input") else DxkitError
            return cls(data.pop("what"), **{k: str(v) for k, v in data.items()})
        except (ValueError, KeyError, TypeError):
            pass
    return DxkitError(
        f"{engine} engine",
        expected="the scoring job to finish",
        found=f"it failed with {type(exc).__name__}",
        fix="see the engine's log above; the run starts clean when rerun",
    )
