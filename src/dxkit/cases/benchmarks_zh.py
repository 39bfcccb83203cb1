"""Loader for the Chinese symptom-slot diagnosis sets (Dxy, MZ-4, MZ-10).

Records hold explicit symptoms (the patient's self-report) and implicit ones (elicited by
the doctor), each present / absent / unsure. We render them as a short Chinese case text
("主诉：咳嗽，发热。问诊：有流涕；无呕吐；不确定是否腹泻。") so the same text models that
read English notes read these too, and negations stay visible instead of being dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dxkit.cases.schema import Case, LabeledCase
from dxkit.errors import DataNotFoundError, InputError

_PREFIX = {"1": "有", "0": "无", "2": "不确定是否"}
SETS = ("dxy", "mz4", "mz10")


def render_zh(explicit: dict[str, str], implicit: dict[str, str]) -> str:
    """Symptom slots -> Chinese case text keeping present, absent and unsure findings.

    In the chief complaint a present symptom is written bare, as a patient would say it;
    everywhere else the prefix says what was found.

    >>> render_zh({"咳嗽": "1", "发热": "1"}, {"流涕": "1", "呕吐": "0", "腹泻": "2"})
    '主诉：咳嗽，发热。问诊：有流涕；无呕吐；不确定是否腹泻。'
    """
    parts = []
    if explicit:
        items = [s if v == "1" else _PREFIX.get(v, "") + s for s, v in explicit.items()]
        parts.append("主诉：" + "，".join(items) + "。")
    if implicit:
        items = [_PREFIX.get(v, "") + s for s, v in implicit.items()]
        parts.append("问诊：" + "；".join(items) + "。")
    return "".join(parts)


def _resolve(path: Path) -> tuple[Path, str]:
    """Accept the set folder or its ``train_set.json``; return (file, set name)."""
    file = path / "train_set.json" if path.is_dir() else path
    if not file.is_file():
        raise DataNotFoundError(
            "Chinese diagnosis set",
            expected=f"a JSON file at {file}",
            found="no such file",
            fix="pass --data PATH to zh_meddialog_diagnosis/{dxy,mz4,mz10}/train_set.json",
        )
    return file, file.parent.name


def _bad(what: str, found: str) -> InputError:
    return InputError(
        "Chinese diagnosis record",
        expected=what,
        found=found,
        fix="pass a train_set.json / test_set.json from the DxFormer data release unchanged",
    )


def _slots(record: dict[str, Any], key: str, index: int) -> dict[str, str]:
    slots = record.get(key) or {}
    if not isinstance(slots, dict) or any(str(v) not in _PREFIX for v in slots.values()):
        raise _bad(f'{key} as {{symptom: "0"|"1"|"2"}}', f"record {index} has another shape")
    return {str(k): str(v) for k, v in slots.items()}


def load_zh(path: Path, *, limit: int | None = None) -> list[LabeledCase]:
    """Read a Dxy / MZ-4 / MZ-10 set into labeled cases with Chinese notes.

    ``case_id`` is ``"{set}-{pid}"`` (the folder name gives the set) so ids stay unique
    when sets are pooled; ``patient_id`` is the record's ``pid``.
    """
    file, set_name = _resolve(Path(path))
    try:
        records = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise _bad("a JSON array", f"invalid JSON at line {exc.lineno}") from None
    if not isinstance(records, list):
        raise _bad("a JSON array of records", f"a {type(records).__name__}")
    out: list[LabeledCase] = []
    for index, record in enumerate(records[:limit] if limit is not None else records):
        if not isinstance(record, dict) or not record.get("label") or not record.get("pid"):
            raise _bad("records with pid, exp_sxs, imp_sxs and label", f"record {index}")
        pid = str(record["pid"])
        notes = render_zh(_slots(record, "exp_sxs", index), _slots(record, "imp_sxs", index))
        case = Case(case_id=f"{set_name}-{pid}", patient_id=pid, notes=notes)
        out.append(LabeledCase(case=case, label=str(record["label"])))
    return out
