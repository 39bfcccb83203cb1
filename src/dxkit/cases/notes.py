"""Write synthetic clinical notes the way clinicians, triage nurses and patients do.

Phrasings come from the knowledge base (several per symptom, lay and clinical, English
and Chinese) and templates in ``resources/note_templates.yaml``; the variety is the point:
a model that only ever saw one phrasing per symptom fails on human-written notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from dxkit.knowledge.schema import Symptom

_KEYBOARD_NEIGHBOURS = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}  # fmt: skip


@cache
def templates() -> dict[str, Any]:
    """The note templates (cached)."""
    text = resources.files("dxkit.resources").joinpath("note_templates.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


def phrase(symptom: Symptom, language: str, rng: np.random.Generator) -> str:
    """One of the ways this symptom is written, in ``language`` ("en" or "zh")."""
    return _pick(rng, symptom.en if language == "en" else symptom.zh)


def _join(parts: list[str], language: str, rng: np.random.Generator) -> str:
    if not parts:
        return ""
    if language == "zh":
        return "、".join(parts)
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + _pick(rng, templates()["en"]["join_and"]) + parts[-1]


def _duration(language: str, rng: np.random.Generator) -> str:
    return _pick(rng, templates()[language]["durations"]).format(n=int(rng.integers(1, 8)))


def add_typos(text: str, rate: float, rng: np.random.Generator) -> str:
    """Keyboard-slip typos in a fraction ``rate`` of the words (English text only).

    >>> add_typos("fever and cough", 0.0, np.random.default_rng(0))
    'fever and cough'
    """
    if rate <= 0:
        return text
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) < 4 or not word.isascii() or rng.random() >= rate:
            continue
        pos = int(rng.integers(1, len(word) - 1))
        kind = int(rng.integers(3))
        char = word[pos].lower()
        if kind == 0 and char in _KEYBOARD_NEIGHBOURS:
            word = word[:pos] + _pick(rng, list(_KEYBOARD_NEIGHBOURS[char])) + word[pos + 1 :]
        elif kind == 1:
            word = word[:pos] + word[pos + 1 :]
        else:
            word = word[:pos] + word[pos + 1] + word[pos] + word[pos + 2 :]
        words[i] = word
    return " ".join(words)


def write_note(
    *,
    present: Sequence[Symptom],
    absent: Sequence[Symptom],
    history: Sequence[str],
    age: float | None,
    sex: str,
    language: str,
    rng: np.random.Generator,
) -> str:
    """Compose one note: chief complaint, associated symptoms, negatives, history.

    ``present`` is ordered most characteristic first; the first becomes the chief
    complaint. Children's notes are often written by or about a parent.
    """
    table = templates()[language]
    child = age is not None and age < 12
    style_options = ["clinician", "patient", "parent"] if child else ["clinician", "patient"]
    if language == "en" and not child:
        style_options.append("triage")
    style = _pick(rng, style_options)
    main = phrase(present[0], language, rng)
    others_list = [phrase(s, language, rng) for s in present[1:]]
    if not others_list:
        others_list = ["nothing else" if language == "en" else "无其他不适"]
    negatives_list = [phrase(s, language, rng) for s in absent]
    negatives = ""
    if negatives_list and style != "patient":
        negatives = _pick(rng, table["negative_lead"]).format(
            x=_join(negatives_list, language, rng)
        )
    sex_words = table["sex_word"].get(sex, table["sex_word"]["unknown"])
    child_words = table.get("child_word", {}).get(sex, ["child"])
    age_text = str(int(age)) if age is not None and age < 90 else ("90+" if age else "?")
    note = _pick(rng, table[style]).format(
        age=age_text,
        sex_word=_pick(rng, sex_words),
        sex_short=sex[:1].upper() if sex in ("female", "male") else "",
        child_word=_pick(rng, child_words),
        main=main,
        others=_join(others_list, language, rng),
        negatives=negatives,
        duration=_duration(language, rng),
    )
    if age is None:
        note = note.replace("?-year-old ", "").replace("?yo ", "").replace("?岁", "")
    if history:
        note += " " + _pick(rng, table["history_lead"]).format(
            x=_join(list(history), language, rng)
        )
    note = " ".join(note.split())
    return note[0].upper() + note[1:] if language == "en" else note
