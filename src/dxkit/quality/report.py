"""A data-set quality report: what would be rejected, what is missing, what is skewed.

Why: before training or evaluating, a user needs to know whether the data can carry the
conclusion: how many cases fail validation and why, which fields are mostly empty, whether
patients repeat (leaking across splits), and which classes are too small to learn. The
report refers to cases by ``case_id`` (and file line) only; it never quotes notes.

:func:`check_file` backs ``dxkit check FILE``: it reads a JSONL file line by line and
collects every problem instead of stopping at the first.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dxkit.cases.schema import Case, Sex
from dxkit.errors import DataNotFoundError, InputError
from dxkit.quality.catalogue import catalogue_by_loinc
from dxkit.quality.validate import ValidationResult, validate_many

LABEL_KEYS = ("diagnosis", "differential")  # extra keys a JSONL line may carry
N_SMALLEST = 5


@dataclass(frozen=True)
class Rejection:
    """A case (or file line) that cannot be used, with a machine-readable ``code``."""

    code: str
    message: str
    case_id: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class QualityReport:
    """Counts and rates describing a data set; :meth:`to_dict` is JSON-ready.

    ``missing_rate`` and the duplicate checks cover every schema-valid case;
    ``label_distribution`` and ``observation_coverage`` cover accepted cases only, since
    those are what a model would be trained or evaluated on.
    """

    n_cases: int
    n_accepted: int
    rejections: list[Rejection] = field(default_factory=list)
    rejected_by_code: dict[str, int] = field(default_factory=dict)
    warnings_by_code: dict[str, int] = field(default_factory=dict)
    missing_rate: dict[str, float] = field(default_factory=dict)
    duplicate_case_ids: list[str] = field(default_factory=list)
    duplicate_patients: list[list[str]] = field(default_factory=list)
    duplicate_content: list[list[str]] = field(default_factory=list)
    label_distribution: dict[str, int] = field(default_factory=dict)
    smallest_classes: list[tuple[str, int]] = field(default_factory=list)
    n_unlabelled: int = 0
    observation_coverage: dict[str, float] = field(default_factory=dict)

    @property
    def n_rejected(self) -> int:
        """Number of rejected cases or lines."""
        return len(self.rejections)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of lists, numbers and strings, ready for ``json.dumps``."""
        data = asdict(self)
        data["n_rejected"] = self.n_rejected
        data["smallest_classes"] = [list(pair) for pair in self.smallest_classes]
        return data


def _error_code(error: InputError) -> str:
    """Machine-readable kind of a validation error, from the field it names."""
    field = error.what.split(" ")[0]
    suffixes = {".unit": "wrong_unit", ".value": "implausible_value", ".code": "unknown_code"}
    if error.what.startswith("case "):
        return "empty_case"
    return next((code for end, code in suffixes.items() if field.endswith(end)), "invalid_input")


def _missing(case: Case) -> dict[str, bool]:
    flags = {
        "patient_id": not case.patient_id,
        "age": case.age is None,
        "sex": case.sex is Sex.unknown,
        "notes": not case.notes.strip(),
        "observations": not case.observations,
    }
    for name, value in case.lifestyle.model_dump().items():
        flags[f"lifestyle.{name}"] = value is None or not str(value).strip()
    for name, items in case.history.model_dump().items():
        flags[f"history.{name}"] = not items
    return flags


def _groups(keys: dict[str, list[str]]) -> list[list[str]]:
    return sorted(ids for ids in keys.values() if len(ids) > 1)


def _build(
    cases: Sequence[Case],
    labels: Sequence[str | None] | None,
    rejections: list[Rejection],
    n_cases: int,
    lines: Sequence[int | None] | None = None,
) -> QualityReport:
    rejections = list(rejections)
    results = validate_many(cases)
    warnings: Counter[str] = Counter()
    accepted: list[tuple[ValidationResult, str | None]] = []
    for i, result in enumerate(results):
        if isinstance(result, InputError):
            line = lines[i] if lines is not None else None
            rejections.append(Rejection(_error_code(result), str(result), cases[i].case_id, line))
            continue
        warnings.update(w.code for w in result.warnings)
        accepted.append((result, labels[i] if labels is not None else None))

    missing: Counter[str] = Counter()
    ids: Counter[str] = Counter()
    patients: dict[str, list[str]] = defaultdict(list)
    contents: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        missing.update(k for k, v in _missing(case).items() if v)
        ids[case.case_id] += 1
        if case.patient_id:
            patients[case.patient_id].append(case.case_id)
        contents[case.model_dump_json(exclude={"case_id", "patient_id"})].append(case.case_id)
    n_valid = max(len(cases), 1)
    keys = list(_missing(cases[0])) if cases else []

    label_counts = Counter(label for _, label in accepted if label is not None)
    coverage: Counter[str] = Counter()
    for result, _ in accepted:
        coverage.update({obs.code for obs in result.case.observations})
    names = catalogue_by_loinc()
    n_ok = max(len(accepted), 1)
    return QualityReport(
        n_cases=n_cases,
        n_accepted=len(accepted),
        rejections=rejections,
        rejected_by_code=dict(Counter(r.code for r in rejections).most_common()),
        warnings_by_code=dict(warnings.most_common()),
        missing_rate={k: round(missing[k] / n_valid, 4) if cases else 0.0 for k in keys},
        duplicate_case_ids=sorted(k for k, n in ids.items() if n > 1),
        duplicate_patients=_groups(patients),
        duplicate_content=_groups(contents),
        label_distribution=dict(label_counts.most_common()),
        smallest_classes=sorted(label_counts.items(), key=lambda kv: (kv[1], kv[0]))[:N_SMALLEST],
        n_unlabelled=sum(1 for _, label in accepted if label is None) if labels else 0,
        observation_coverage={
            f"{code} ({names[code].key})" if code in names else code: round(n / n_ok, 4)
            for code, n in sorted(coverage.items())
        },
    )


def quality_report(cases: Sequence[Case], labels: Sequence[str] | None = None) -> QualityReport:
    """Validate every case and summarise the data set.

    Args:
        cases: schema-valid cases.
        labels: reference diagnoses aligned with ``cases``, if known.

    Raises:
        InputError: ``labels`` is not the same length as ``cases``.

    >>> report = quality_report([Case(case_id="a", notes="cough"), Case(case_id="b")])
    >>> report.n_accepted, report.rejected_by_code
    (1, {'empty_case': 1})
    """
    if labels is not None and len(labels) != len(cases):
        raise InputError(
            "labels",
            expected=f"one label per case ({len(cases)})",
            found=f"{len(labels)} labels",
            fix="pass labels aligned with cases, or none",
        )
    return _build(cases, labels, [], len(cases))


def _schema_problem(error: ValidationError) -> str:
    """Field paths and problems from pydantic, without the offending input values."""
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '(case)'}: {e['msg']}"
        for e in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    return "; ".join(parts[:3]) + (f"; and {len(parts) - 3} more" if len(parts) > 3 else "")


def _parse_line(number: int, raw_line: bytes) -> tuple[Case, str | None] | Rejection:
    """One JSONL line as (case, label), or the reason it cannot be used."""
    try:
        raw = json.loads(raw_line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Rejection("invalid_json", f"line {number}: not valid JSON", line=number)
    if not isinstance(raw, dict):
        message = f"line {number}: expected a JSON object, found {type(raw).__name__}"
        return Rejection("invalid_json", message, line=number)
    case_id = raw.get("case_id") if isinstance(raw.get("case_id"), str) else None
    label = raw.pop("diagnosis", None)
    differential = raw.pop("differential", None)
    if not isinstance(label, str | None) or not isinstance(differential, dict | None):
        message = f"line {number}: diagnosis must be a string and differential an object"
        return Rejection("schema_error", message, case_id, number)
    try:
        return Case.model_validate(raw), label
    except ValidationError as error:
        message = f"line {number}: {_schema_problem(error)}"
        return Rejection("schema_error", message, case_id, number)


def check_file(path: Path, fmt: str = "jsonl") -> QualityReport:
    """Report on a JSONL file of cases, collecting every bad line instead of stopping.

    Each non-blank line is one :class:`~dxkit.cases.schema.Case` as JSON, optionally with
    ``diagnosis`` (the label) and ``differential`` keys.

    Raises:
        DataNotFoundError: ``path`` does not exist or is not a file.
        InputError: ``fmt`` is not ``jsonl``.
    """
    if fmt != "jsonl":
        raise InputError(
            "fmt", expected="'jsonl'", found=repr(fmt), fix="convert the file to JSON Lines"
        )
    if not path.is_file():
        raise DataNotFoundError(
            f"case file {path}",
            expected="an existing JSONL file",
            found="a directory" if path.is_dir() else "no such file",
            fix="check the path",
        )
    if path.suffix.lower() == ".json":
        from dxkit.cases.io import read_cases

        return quality_report(read_cases(path))
    cases: list[Case] = []
    labels: list[str | None] = []
    lines: list[int | None] = []
    rejections: list[Rejection] = []
    n_lines = 0
    with path.open("rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            if not raw_line.strip():
                continue
            n_lines += 1
            parsed = _parse_line(number, raw_line)
            if isinstance(parsed, Rejection):
                rejections.append(parsed)
                continue
            cases.append(parsed[0])
            labels.append(parsed[1])
            lines.append(number)
    has_labels = any(label is not None for label in labels)
    if n_lines == 0:
        raise InputError(
            "case file",
            expected="at least one case",
            found=f"{path.name} is empty",
            fix="write one JSON case per line into the file",
        )
    return _build(cases, labels if has_labels else None, rejections, n_lines, lines)


def render_report(report: QualityReport, console: Console | None = None) -> Table:
    """A two-column rich table of the report; printed on ``console`` when one is given."""
    table = Table(title="Data quality", show_header=True)
    table.add_column("check")
    table.add_column("result")
    table.add_row("cases", str(report.n_cases))
    table.add_row("accepted", str(report.n_accepted))
    table.add_row("rejected", str(report.n_rejected), end_section=True)
    for code, n in report.rejected_by_code.items():
        table.add_row(f"rejected: {code}", str(n))
    for code, n in report.warnings_by_code.items():
        table.add_row(f"warning: {code}", str(n))
    table.add_section()
    for name, rate in report.missing_rate.items():
        if rate > 0:
            table.add_row(f"missing: {name}", f"{rate:.1%}")
    table.add_section()
    table.add_row("duplicate case ids", str(len(report.duplicate_case_ids)))
    table.add_row("patients with several cases", str(len(report.duplicate_patients)))
    table.add_row("identical cases (groups)", str(len(report.duplicate_content)))
    if report.label_distribution:
        table.add_section()
        table.add_row("classes", str(len(report.label_distribution)))
        smallest = ", ".join(f"{label} ({n})" for label, n in report.smallest_classes)
        table.add_row("smallest classes", escape(smallest))
    if report.observation_coverage:
        table.add_section()
        for code, rate in report.observation_coverage.items():
            table.add_row(f"observed: {code}", f"{rate:.1%}")
    if report.rejections:
        table.add_section()
    shown = 20
    for rejection in report.rejections[:shown]:
        where = rejection.case_id or (f"line {rejection.line}" if rejection.line else "")
        table.add_row(escape(f"rejected {where}".strip()), escape(rejection.message))
    if len(report.rejections) > shown:
        more = len(report.rejections) - shown
        table.add_row("", f"... and {more} more (use --json for all)")
    if console is not None:
        console.print(table)
    return table
