"""Synthetic clinical notes with every identifier's exact span and kind: a gold standard.

Real notes with identifiers cannot be shared, so the de-identifier is measured on notes
built from templates (``resources/deid_note_templates.yaml``) whose slots are filled with
invented values. Because the generator places every value itself, the gold spans are
exact by construction, and so are the *protected* spans: clinical text that resembles an
identifier (``BP 128/82``, ``pain 7/10``, ``Parkinson disease``, ``will follow up``) and
that a good de-identifier must leave untouched.

Every batch holds the hard cases on purpose: patients named like words or eponyms (Hope
Bell, Will Parkinson, 高峰) beside the same words used clinically; names from locales
outside common English name lists; identifiers touching punctuation, line breaks or
unspaced Chinese text; bare years (not PHI under Safe Harbor) and ages under 90 (not PHI).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml
from faker import Faker

from dxkit.deid.synthetic_values import SLOTS, NoteContext, Piece, patient_age
from dxkit.deid.types import PhiKind, PhiSpan
from dxkit.errors import InputError

LANGUAGES = ("en", "zh")
MAX_NOTES = 100_000
HARD_EVERY = 3  # every third note's patient has a word-like or eponym name
_MARK = re.compile(r"\[\[(.+?)\]\]|\{(\w+)\}")


@dataclass(frozen=True)
class LabelledNote:
    """A synthetic note, the gold identifier spans in it, and the protected clinical spans.

    Attributes:
        text: The note.
        spans: Gold identifiers, sorted, never overlapping, each covering exactly the value
            (no field label, title, surrounding space or punctuation).
        language: ``"en"`` or ``"zh"``.
        protected: ``(start, end)`` of clinical strings (doses, labs, vitals, scores, young
            ages, eponym diseases, name-like words) that must survive de-identification.
    """

    text: str
    spans: tuple[PhiSpan, ...]
    language: str
    protected: tuple[tuple[int, int], ...] = ()


def clinical_segments(note: LabelledNote) -> list[tuple[int, int]]:
    """The protected clinical segments of ``note``: what a de-identifier must not change."""
    return list(note.protected)


@cache
def _templates() -> dict[str, Any]:
    text = resources.files("dxkit.resources").joinpath("deid_note_templates.yaml")
    loaded: dict[str, Any] = yaml.safe_load(text.read_text("utf-8"))
    return loaded


def _validate(n: int, languages: tuple[str, ...]) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_NOTES:
        raise InputError(
            "number of notes",
            expected=f"an integer from 1 to {MAX_NOTES}",
            found=repr(n),
            fix="ask for at least one note (tests need no more than a few hundred)",
        )
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if not languages or unknown:
        raise InputError(
            "note languages",
            expected=f"a non-empty selection of {', '.join(LANGUAGES)}",
            found=", ".join(map(repr, unknown)) or "none",
            fix='pass languages=("en",), ("zh",) or ("en", "zh")',
        )


def _fakers(seed: int, locales: tuple[str, ...]) -> dict[str, Faker]:
    fakers: dict[str, Faker] = {}
    for offset, locale in enumerate(sorted({"en_US", "zh_CN", *locales})):
        fakers[locale] = Faker(locale)
        fakers[locale].seed_instance(seed * 1009 + offset)
    return fakers


def _render(template: str, ctx: NoteContext) -> list[Piece]:
    """Turn one template line into pieces of text, each with its role."""
    pieces: list[Piece] = []
    pos = 0
    for match in _MARK.finditer(template):
        pieces.append((template[pos : match.start()], "plain"))
        protected, slot = match.groups()
        if protected is not None:
            inner = _render(protected, ctx)
            if any(role != "plain" for _, role in inner):
                raise ValueError(f"identifier slot inside protected text: {protected!r}")
            pieces.append(("".join(text for text, _ in inner), "protected"))
        elif slot == "patient_age":
            pieces.extend(patient_age(ctx))
        elif slot in SLOTS:
            role, make = SLOTS[slot]
            pieces.append((make(ctx).strip(), role))
        else:
            raise ValueError(f"unknown slot {{{slot}}} in deid_note_templates.yaml")
        pos = match.end()
    pieces.append((template[pos:], "plain"))
    return pieces


def _start_hard_case(ctx: NoteContext, block: dict[str, Any]) -> str:
    """Give the patient a word-like name; return the line that uses the word clinically."""
    case = ctx.rng.choice(block["hard_names"])
    if case["sex"] in ("female", "male"):
        ctx.sex = case["sex"]
    if case["part"] == "full":
        ctx.sticky["patient_last"], ctx.sticky["patient_first"] = case["name"][0], case["name"][1:]
    else:
        ctx.sticky[f"patient_{case['part']}"] = case["name"]
    return str(case["line"])


def _note_pieces(ctx: NoteContext, block: dict[str, Any], hard: bool) -> list[Piece]:
    hard_line = _start_hard_case(ctx, block) if hard else None
    pieces: list[Piece] = []
    for index, section in enumerate(block["sections"]):
        low, high = section["pick"]
        lines = list(section["fixed"])
        lines += ctx.rng.sample(section["lines"], ctx.rng.randint(low, high))
        if index == 1 and hard_line is not None:
            lines.insert(1, hard_line)
        if index:
            pieces.append(("\n\n", "plain"))
        if section["title"]:
            pieces.append((section["title"] + ctx.rng.choice(["\n", " "]), "plain"))
        for number, line in enumerate(lines):
            if number:
                pieces.append(("\n" if ctx.rng.random() < 0.6 else " ", "plain"))
            pieces.extend(_render(line, ctx))
    return pieces


def _assemble(pieces: list[Piece], language: str) -> LabelledNote:
    parts: list[str] = []
    spans: list[PhiSpan] = []
    protected: list[tuple[int, int]] = []
    offset = 0
    for text, role in pieces:
        if not text:
            continue
        end = offset + len(text)
        if isinstance(role, PhiKind):
            spans.append(PhiSpan(offset, end, role))
        elif role == "protected":
            protected.append((offset, end))
        parts.append(text)
        offset = end
    return LabelledNote("".join(parts), tuple(spans), language, tuple(protected))


def generate_labelled_notes(
    n: int, *, seed: int = 0, languages: tuple[str, ...] = LANGUAGES
) -> list[LabelledNote]:
    """Build ``n`` labelled notes, alternating languages; the same seed gives the same notes.

    Args:
        n: How many notes (1 to 100,000).
        seed: Seeds both the template choices and the Faker value makers.
        languages: Which of ``"en"`` and ``"zh"``; notes cycle through them in order, so
            two languages give about half each.

    Returns:
        The notes, with gold identifier spans and protected clinical spans.

    Raises:
        InputError: ``n`` is not a positive integer or a language is unknown.

    >>> note = generate_labelled_notes(2, seed=1)[1]
    >>> note.language, all(note.text[s.start : s.end].strip() for s in note.spans)
    ('zh', True)
    """
    _validate(n, languages)
    templates = _templates()
    locales = tuple(templates["name_locales"])
    fakers = _fakers(seed, locales)
    rng = random.Random(seed)
    notes = []
    for i in range(n):
        language = languages[i % len(languages)]
        block = templates[language]
        sex = rng.choice(["female", "male"])
        ctx = NoteContext(rng, fakers, language, block, locales, sex)
        notes.append(_assemble(_note_pieces(ctx, block, i % HARD_EVERY == 0), language))
    return notes
