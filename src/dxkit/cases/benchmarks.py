"""Loaders for the public English benchmarks: DDXPlus and Symptom2Disease.

Both return :class:`LabeledCase` lists so every model, split and metric sees one shape.
DDXPlus stores symptoms as evidence codes; we verbalise them into English case notes
("Has a fever ... Pain location: lower chest.") because the text models read notes, and a
clinician-style rendering lets the same model serve real free-text notes later.

Data are never read at import time; a missing file raises :class:`DataNotFoundError`
naming the path that was expected and where the file comes from.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from dxkit.cases.io import load_labeled
from dxkit.cases.schema import Case, History, LabeledCase
from dxkit.errors import DataNotFoundError, InputError

__all__ = ["load_ddxplus", "load_labeled", "load_symptom2disease", "question_to_statement"]

# Short English stems for DDXPlus's categorical and numeric questions, so a case reads
# "Pain location: lower chest" instead of "Do you feel pain somewhere?: lower chest".
_STEMS = {
    "E_54": "Pain character",
    "E_55": "Pain location",
    "E_56": "Pain intensity",
    "E_57": "Pain radiates to",
    "E_58": "Pain location precision",
    "E_59": "Pain onset speed",
    "E_130": "Rash colour",
    "E_131": "Lesions peel off",
    "E_132": "Rash swelling",
    "E_133": "Affected region",
    "E_134": "Rash pain intensity",
    "E_135": "Lesions larger than 1 cm",
    "E_136": "Itching severity",
    "E_152": "Swelling location",
    "E_204": "Travel out of the country in the last 4 weeks",
}
_ADVERBS = {"regularly", "currently", "constantly", "suddenly", "ever", "often", "still"}
_IRREGULAR = {"have": "has", "do": "does", "be": "is"}
# "you" after a verb or preposition is an object ("wake you up" -> "wake them up");
# everywhere else it is a subject ("when you breathe" -> "when they breathe").
_OBJECT_YOU = re.compile(
    r"\b((?:keeping|keep|keeps|wake|wakes|waking|to|for|with|from|of|make|makes|prevent|"
    r"prevents|help|helps|bother|bothers) )you\b"
)
_HISTORY_RE = re.compile(
    r"(?:diagnosed with|ever had|suffer from|^Do you have)\s+(?:an? )?(.+?)\s*\?$", re.IGNORECASE
)


def _third_person(verb: str) -> str:
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if re.search(r"(s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def _pronouns(text: str) -> str:
    text = re.sub(r"\byou[’']re\b", "they're", text)
    text = re.sub(r"\byourself\b", "themselves", text)
    text = re.sub(r"\byour\b", "their", text)
    text = _OBJECT_YOU.sub(r"\1them", text)
    text = re.sub(r"\byou(?=\W?$)", "them", text)
    return re.sub(r"\byou\b", "they", text)


def question_to_statement(question: str) -> str:
    """Turn a DDXPlus yes/no question into a third-person statement of a positive answer.

    Rule-based on purpose: the 208 binary questions follow a handful of openings, and a
    fallback keeps the question verbatim rather than inventing grammar.

    >>> question_to_statement("Do you have a fever (either felt or measured)?")
    'Has a fever (either felt or measured).'
    >>> question_to_statement("Are you currently using intravenous drugs?")
    'Is currently using intravenous drugs.'
    >>> question_to_statement("Do you regularly take stimulant drugs?")
    'Regularly takes stimulant drugs.'
    >>> question_to_statement("Did you lose consciousness?")
    'Yes: Did you lose consciousness?'
    """
    q = question.strip()
    for opening, replacement in (
        ("Do you have ", "Has "),
        ("Are you ", "Is "),
        ("Have you ", "Has "),
    ):
        if q.startswith(opening):
            return _pronouns(replacement + q[len(opening) :]).rstrip("?").rstrip() + "."
    if q.startswith("Do you "):
        words = q[len("Do you ") :].split(" ")
        i = 0
        while i < len(words) - 1 and (words[i] in _ADVERBS or words[i].endswith("ly")):
            i += 1
        if not words[i].isalpha():
            return f"Yes: {q}"
        words[i] = _third_person(words[i])
        sentence = _pronouns(" ".join(words)).rstrip("?").rstrip() + "."
        return sentence[0].upper() + sentence[1:]
    return f"Yes: {q}"


@dataclass(frozen=True)
class _Evidence:
    data_type: str  # B (binary), C (categorical, may be numeric scale), M (multi-choice)
    antecedent: bool
    question: str
    stem: str
    meanings: dict[str, str]
    statement: str
    history_item: str | None


def _history_item(question: str, antecedent: bool) -> str | None:
    if not antecedent or re.search(r"family|mother|members", question, re.IGNORECASE):
        return None
    match = _HISTORY_RE.search(question)
    if not match:
        return None
    item = re.split(r",? or (?:do|have|are|did) you\b", match.group(1))[0]
    return _pronouns(item).strip()


@lru_cache(maxsize=4)
def _evidence_table(path: str, mtime: float) -> dict[str, _Evidence]:
    """Parse ``release_evidences.json`` once per file version (keyed by path + mtime)."""
    raw: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    table = {}
    for code, item in raw.items():
        question = str(item["question_en"])
        table[code] = _Evidence(
            data_type=str(item["data_type"]),
            antecedent=bool(item["is_antecedent"]),
            question=question,
            stem=_STEMS.get(code, question.rstrip("?: ")),
            meanings={k: str(v["en"]) for k, v in item.get("value_meaning", {}).items()},
            statement=question_to_statement(question),
            history_item=_history_item(question, bool(item["is_antecedent"])),
        )
    return table


def _in_folder(path: Path, pattern: str) -> Path:
    """A folder stands for the one data file in it matching ``pattern`` (if exactly one)."""
    if not path.is_dir():
        return path
    found = sorted(path.glob(pattern))
    if len(found) == 1:
        return found[0]
    raise DataNotFoundError(
        f"data folder {path}",
        expected=f"exactly one file matching {pattern} in it",
        found=f"{len(found)} such files",
        fix="pass the data file itself with --data",
    )


def _require(path: Path, what: str, fix: str) -> None:
    if not path.is_file():
        found = "a directory" if path.is_dir() else "no such file"
        raise DataNotFoundError(what, expected=f"the file {path}", found=found, fix=fix)


def _render_group(ev: _Evidence, values: list[str]) -> tuple[str, str | None]:
    """One evidence and its values -> (sentence, short history item or None)."""
    if ev.data_type == "B" or not values:
        return ev.statement, ev.history_item
    if not ev.meanings:  # numeric 0-10 scale
        return f"{ev.stem} {values[-1]}/10.", None
    meanings = [ev.meanings.get(v, v) for v in values]
    if meanings == ["Y"]:
        return ev.statement, ev.history_item
    if meanings == ["N"]:
        return f"{ev.stem}: no.", None
    return f"{ev.stem}: {', '.join(meanings)}.", None


def render_ddxplus(
    evidences: list[str], initial: str, table: dict[str, _Evidence]
) -> tuple[str, list[str]]:
    """Evidence codes of one patient -> (English notes, past-condition items).

    The initial evidence comes first as the chief complaint, then the other symptoms, then
    antecedents under ``History:`` (risk factors and past conditions).
    """
    groups: dict[str, list[str]] = {}
    for item in evidences:
        code, _, value = item.partition("_@_")
        groups.setdefault(code, [])
        if value:
            groups[code].append(value)
    groups.setdefault(initial, [])
    order = [initial, *(c for c in groups if c != initial)]
    symptoms: list[str] = []
    history: list[str] = []
    past: list[str] = []
    for code in order:
        ev = table.get(code)
        if ev is None:
            raise InputError(
                "DDXPlus evidence code",
                expected="codes listed in release_evidences.json",
                found=repr(code),
                fix="use the release_evidences.json of the same DDXPlus release",
            )
        sentence, item_or_none = _render_group(ev, groups[code])
        (history if ev.antecedent else symptoms).append(sentence)
        if item_or_none:
            past.append(item_or_none)
    notes = "Chief complaint: " + " ".join(symptoms)
    if history:
        notes += " History: " + " ".join(history)
    return notes, past


def _differential(raw: str) -> dict[str, float] | None:
    pairs = ast.literal_eval(raw) if raw.strip() else []
    total = sum(float(p) for _, p in pairs)
    if total <= 0:
        return None
    return {str(name): float(p) / total for name, p in pairs}


def load_ddxplus(path: Path, *, limit: int | None = None) -> list[LabeledCase]:
    """Read a DDXPlus patients CSV (e.g. ``patients_dev.csv``) into labeled cases.

    ``path`` may also be the release folder holding exactly one ``*patients*.csv``.

    ``release_evidences.json`` and ``release_conditions.json`` must lie beside the CSV;
    the evidence table is cached, so re-reading costs only the CSV parse.
    """
    path = _in_folder(Path(path), "*patients*.csv")
    fix = "pass --data PATH to the file patients_dev.csv from the DDXPlus release"
    _require(path, "DDXPlus patients file", fix)
    evidences_file = path.parent / "release_evidences.json"
    for side in (evidences_file, path.parent / "release_conditions.json"):
        _require(side, "DDXPlus release file", f"put {side.name} beside {path.name}")
    table = _evidence_table(str(evidences_file.resolve()), evidences_file.stat().st_mtime)
    out: list[LabeledCase] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            if limit is not None and index >= limit:
                break
            try:
                notes, past = render_ddxplus(
                    ast.literal_eval(row["EVIDENCES"]), row["INITIAL_EVIDENCE"], table
                )
                differential = _differential(row.get("DIFFERENTIAL_DIAGNOSIS") or "")
                case_id = f"ddxplus-{index}"
                case = Case(
                    case_id=case_id,
                    patient_id=case_id,
                    age=float(row["AGE"]),
                    sex=row["SEX"],
                    notes=notes,
                    history=History(past_conditions=past),
                )
            except (KeyError, ValueError, SyntaxError) as exc:
                raise InputError(
                    "DDXPlus row",
                    expected="columns AGE, SEX, PATHOLOGY, EVIDENCES, INITIAL_EVIDENCE, "
                    "DIFFERENTIAL_DIAGNOSIS with Python-literal lists",
                    found=f"row {index + 2} of {path.name} unreadable ({type(exc).__name__})",
                    fix="use an unmodified DDXPlus release_*_patients CSV",
                ) from None
            out.append(LabeledCase(case=case, label=row["PATHOLOGY"], differential=differential))
    return out


def load_symptom2disease(path: Path, *, limit: int | None = None) -> list[LabeledCase]:
    """Read the Symptom2Disease CSV (``index,label,text``); exact duplicate texts dropped.

    Duplicates are dropped because the same sentence under two ids would leak across a
    train/test split and inflate accuracy.
    """
    path = _in_folder(Path(path), "*.csv")
    _require(
        path,
        "Symptom2Disease file",
        "pass --data PATH to symptom2disease_dev.csv (or Symptom2Disease.csv from the release)",
    )
    out: list[LabeledCase] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"label", "text"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(
                "Symptom2Disease columns",
                expected="columns index,label,text",
                found=f"columns {reader.fieldnames}",
                fix="pass the CSV from the Symptom2Disease release unchanged",
            )
        for row_no, row in enumerate(reader):
            text = (row["text"] or "").strip()
            if not text or text in seen:
                continue
            seen.add(text)
            case_id = f"s2d-{row.get('index') or row.get('') or row_no}"
            case = Case(case_id=case_id, patient_id=case_id, notes=text)
            out.append(LabeledCase(case=case, label=row["label"].strip()))
            if limit is not None and len(out) >= limit:
                break
    return out
