"""Load the de-identification data: patterns, identifier labels, word and name lists.

Everything a detector knows lives as data in ``dxkit/resources/deid/`` (with its source
noted there), so a reviewer can audit or extend coverage without reading code. This
module reads those files once per process and expands the placeholders the pattern file
uses (``{MONTH}``, ``{STATE}``…) into regex alternations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

_PACKAGE = "dxkit.resources"


def _read_text(name: str) -> str:
    return resources.files(_PACKAGE).joinpath("deid", name).read_text(encoding="utf-8")


def _read_yaml(name: str) -> Any:
    return yaml.safe_load(_read_text(name))


def _read_list(name: str) -> tuple[str, ...]:
    lines = (line.strip() for line in _read_text(name).splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def alternation(words: tuple[str, ...] | list[str]) -> str:
    """A non-capturing regex alternation, longest first so prefixes never shadow words."""
    ordered = sorted({str(word) for word in words}, key=lambda word: (-len(word), word))
    return "(?:" + "|".join(re.escape(word) for word in ordered) + ")"


@dataclass(frozen=True)
class Vocabulary:
    """The word lists of ``vocabulary.yaml`` plus the name lists, as lookup sets."""

    months_full: tuple[str, ...]
    months_abbrev: tuple[str, ...]
    states: tuple[str, ...]
    state_names: tuple[str, ...]
    street_suffixes: tuple[str, ...]
    provinces: tuple[str, ...]
    name_titles: tuple[str, ...]
    credentials: tuple[str, ...]
    name_cues: tuple[str, ...]
    eponym_tails: frozenset[str]
    zh_eponym_tails: tuple[str, ...]
    never_propagated: frozenset[str]
    not_names: frozenset[str]
    zh_not_names: frozenset[str]
    zh_common_words: frozenset[str]
    zh_name_cues: tuple[str, ...]
    zh_name_titles: tuple[str, ...]
    zh_given_chars: tuple[str, ...]
    place_words: tuple[str, ...]
    zh_place_chars: tuple[str, ...]
    countries: tuple[str, ...]
    first_names: tuple[str, ...]  # most frequent first
    last_names: tuple[str, ...]  # most frequent first
    zh_surnames: tuple[str, ...]
    first_name_set: frozenset[str]
    last_name_set: frozenset[str]


@cache
def vocabulary() -> Vocabulary:
    """The de-identification word lists, read once per process."""
    data = _read_yaml("vocabulary.yaml")
    tuples = {
        key: tuple(str(word) for word in data[key])
        for key in (
            "months_full",
            "months_abbrev",
            "states",
            "state_names",
            "street_suffixes",
            "provinces",
            "name_titles",
            "credentials",
            "name_cues",
            "zh_name_cues",
            "zh_name_titles",
            "zh_given_chars",
            "place_words",
            "zh_place_chars",
            "countries",
        )
    }
    first_names = _read_list("names_en_first.txt")
    last_names = _read_list("names_en_last.txt")
    return Vocabulary(
        **tuples,
        eponym_tails=frozenset(str(word).lower() for word in data["eponym_tails"]),
        zh_eponym_tails=tuple(str(word) for word in data["zh_eponym_tails"]),
        never_propagated=frozenset(str(word).lower() for word in data["never_propagated"]),
        not_names=frozenset(str(word).lower() for word in data["not_names"]),
        zh_not_names=frozenset(str(word) for word in data["zh_not_names"]),
        zh_common_words=frozenset(str(word) for word in data["zh_common_words"]),
        first_names=first_names,
        last_names=last_names,
        zh_surnames=_read_list("names_zh_surnames.txt"),
        first_name_set=frozenset(first_names),
        last_name_set=frozenset(last_names),
    )


def _placeholders() -> dict[str, str]:
    words = vocabulary()
    months = [*words.months_full, *words.months_abbrev]
    upper = [month.upper() for month in months]
    return {
        "{MONTH}": alternation([*months, *upper]),
        "{MONTH_FULL}": alternation(words.months_full),
        "{STATE}": alternation(words.states),
        "{STATE_NAME}": alternation(words.state_names),
        "{SUFFIX}": alternation(words.street_suffixes),
        "{PROVINCE}": alternation(words.provinces),
        "{COUNTRY}": alternation(words.countries),
        "{HAN}": "[\\u4e00-\\u9fff]",
    }


def expand(regex: str) -> str:
    """Replace the ``{NAME}`` placeholders of the pattern file by their alternations."""
    for placeholder, value in _placeholders().items():
        regex = regex.replace(placeholder, value)
    return regex


@cache
def pattern_specs() -> tuple[dict[str, Any], ...]:
    """Recognizer definitions of ``patterns.yaml`` with placeholders expanded.

    Each is a dict in Presidio's recognizer format plus ``source`` and
    ``case_sensitive``; the caller turns them into recognizers.
    """
    specs = []
    for spec in _read_yaml("patterns.yaml")["recognizers"]:
        patterns = [{**pattern, "regex": expand(pattern["regex"])} for pattern in spec["patterns"]]
        specs.append({**spec, "patterns": patterns})
    return tuple(specs)


@cache
def identifier_labels() -> dict[str, Any]:
    """The label → identifier-kind table of ``identifier_labels.yaml``."""
    return dict(_read_yaml("identifier_labels.yaml"))
