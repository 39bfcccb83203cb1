"""Person-name recognizers for English and Chinese notes, without a trained NER model.

A name list alone is useless in clinical text: the census surname list holds "Pain",
"Blood" and "Parkinson". So a capitalised word becomes a name only with evidence: a
title ("Dr. Ruiz"), a cue ("seen by", "son", "Patient:"), a credential ("Smith, MD"), an
initial ("J. Smith") or a known first name followed by a capitalised word ("Grace
Parkinson"); a clinical word after a cue ("Mother: Breast cancer", "Seen by Cardiology")
and a word before an eponym tail ("Parkinson disease", "Bell's palsy") are never names.
Once a document names someone, every other capitalised mention of that word is the same
person (see :func:`name_mentions`). Words are Unicode: "Núñez", "Łukasz", "DeLuca".
Chinese names are found by :mod:`dxkit.deid.recognizers_names_zh`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import cache

import regex

from dxkit.deid.name_evidence import (
    common_words,
    is_clinical_word,
    is_eponym,
    is_listed_name,
    may_be_surname,
    may_propagate,
    reads_as_subject,
    stop_words,
)
from dxkit.deid.presidio import LocalRecognizer, NlpArtifacts, RecognizerResult
from dxkit.deid.recognizers_names_zh import chinese_name_spans
from dxkit.deid.resources import alternation, vocabulary
from dxkit.deid.types import PhiKind

_WORD = r"(?:Mc|Mac|O['’]|D['’])?\p{Lu}\p{Ll}+(?:\p{Lu}\p{Ll}+)*(?:[-'’]\p{Lu}\p{Ll}+)*"
_CAPS = r"\p{Lu}{2,}(?:[-'’]\p{Lu}{2,})?"
_INITIALS = r"(?:\p{Lu}\.[ \t]*)*"
_PARTICLE = r"(?:van|von|de|da|del|der|di|la|le|bin|ibn|al|dos|das)"
# words of one name sit on one line: "Smith\nThe patient" is a name and a sentence
_NAME_SEQ = rf"{_WORD}(?:[ \t]+(?:\p{{Lu}}\.[ \t]*)?(?:{_PARTICLE}[ \t]+)?{_WORD}){{0,3}}"
_TOKEN = regex.compile(rf"{_WORD}|{_CAPS}")
_RELATIONS = frozenset(
    [
        "son",
        "daughter",
        "wife",
        "husband",
        "mother",
        "father",
        "brother",
        "sister",
        "spouse",
        "partner",
        "nephew",
        "niece",
        "grandson",
        "granddaughter",
        "grandmother",
        "grandfather",
        "aunt",
        "uncle",
        "cousin",
    ]
)

SCORES = {"title": 0.9, "cue": 0.85, "field": 0.85, "credential": 0.9, "initial": 0.85}
SCORES["pair"] = 0.8
SCORES["subject"] = 0.8
# Below the date patterns, so "May" propagated from "May Smoczyk" loses to "in May 2021".
PROPAGATED_SCORE = 0.7


@cache
def _patterns() -> dict[str, regex.Pattern[str]]:
    words = vocabulary()
    titles = alternation(words.name_titles)
    cues = alternation(words.name_cues)
    credentials = alternation(words.credentials)
    return {
        "title": regex.compile(rf"\b{titles}\.?\s+({_INITIALS}(?:{_NAME_SEQ}|{_CAPS}))"),
        "cue": regex.compile(
            rf"(?i:\b(?P<cue>{cues}))[ \t]*(?P<sep>[:,-]?)[ \t]+(?:{titles}\.?[ \t]+)?"
            rf"((?!{titles}\b){_INITIALS}{_NAME_SEQ})"
        ),
        # "Name: SMITH, JOHN", "Pt: Garcia, Maria": a name field with its colon
        "field": regex.compile(
            rf"(?i:\b(?:patient name|patient|name|pt name|pt))[ \t]*:[ \t]*"
            rf"((?:{_CAPS}|{_WORD})(?:,[ \t]*(?:{_CAPS}|{_WORD}))?(?:[ \t]+{_CAPS}){{0,2}})\b"
        ),
        "credential": regex.compile(rf"({_INITIALS}{_NAME_SEQ}),?\s+{credentials}\b"),
        "initial": regex.compile(rf"(?<![\p{{L}}.])((?:\p{{Lu}}\.\s?){{1,2}}{_WORD})"),
        "pair": regex.compile(rf"\b({_WORD})\s+(?:\p{{Lu}}\.\s+)?({_WORD})\b"),
        # "Zebulon Quaxley reports fever": two name-like words as the subject of a
        # clinical verb, whether or not the census lists them
        "subject": regex.compile(
            rf"\b({_WORD})[ \t]+({_WORD})(?=[ \t]+(?:reports|reported|presents|presented|"
            rf"states|stated|denies|denied|complains|complained|is|was|has|had|arrived|came|"
            rf"returns|returned|agrees|agreed|declines|declined|says|said)\b)"
        ),
    }


def _keep(rule: str, match: regex.Match[str]) -> bool:
    """The evidence a rule's match needs beyond its pattern."""
    words = vocabulary()
    if rule == "pair":
        first, second = match.group(1), match.group(2)
        if first not in words.first_name_set or not may_be_surname(second):
            return False
        if first.lower() in stop_words() and (
            second not in words.last_name_set or second.lower() in common_words()
        ):
            return False  # "An Esmarch", "In January": need a listed, non-clinical surname
        if len(second) < 3 and second not in words.last_name_set:
            return False  # "Ta Nx" (tumour stage) is no name; "Li", "Ng" are
        return first.lower() not in _RELATIONS  # "Son Quang": the cue rule names Quang
    if rule == "subject":
        words_found = (match.group(1), match.group(2))
        return not any(is_clinical_word(w) or w.lower() in stop_words() for w in words_found)
    if rule == "title" and match.group(0).split()[0].lower() in _RELATIONS:
        first = _TOKEN.search(match.group(1))  # "Sister Lupus": a relation, not a nun
        return first is not None and not is_clinical_word(first.group(0))
    if rule == "cue":
        if match.group("cue").lower() in _RELATIONS and match.group("sep") == ":":
            return False  # "Mother: Breast cancer" is family history, not a person
        first = _TOKEN.search(match.group(3))
        return first is not None and not is_clinical_word(first.group(0))
    if rule == "field":
        tokens = _TOKEN.findall(match.group(1))
        return any(is_listed_name(t) for t in tokens) or not all(
            is_clinical_word(t) or t.isupper() for t in tokens
        )
    if rule == "initial":
        surname = match.group(1).split(".")[-1].strip()
        return surname in words.last_name_set and not is_clinical_word(surname)
    return True


def _strip_trailing(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Drop function words a greedy match took along at the end ("Hahn If")."""
    tokens = [(m.start() + start, m.end() + start) for m in _TOKEN.finditer(text[start:end])]
    stop, words = stop_words(), vocabulary()
    while tokens:
        last = text[tokens[-1][0] : tokens[-1][1]]
        if last.lower() not in stop or last.capitalize() in words.last_name_set:
            break  # "Down" in "Piermaria Down" is a surname, "The" is not
        tokens.pop()
    if not tokens:
        return None
    return start, tokens[-1][1]


def _with_given_name(text: str, end: int) -> int:
    """Extend "Doe" to "Doe, John": a listed first name after the comma, or any name-like
    word that ends the line or sentence ("Kowalczyk, Zbigniew")."""
    follow = regex.match(rf",[ \t]*({_WORD}|{_CAPS})(?=(\s*(?:$|[\n.;)]))?)", text[end : end + 40])
    if follow is None:
        return end
    word = follow.group(1)
    if word.capitalize() in vocabulary().first_name_set:
        return end + follow.end()
    if follow.group(2) is not None and not is_clinical_word(word) and not word.isupper():
        return end + follow.end()
    return end


def english_name_spans(text: str) -> Iterator[tuple[int, int, float]]:
    """(start, end, score) of every English person name the rules find."""
    found: list[tuple[int, int, float]] = []
    for rule, pattern in _patterns().items():
        for match in pattern.finditer(text):
            if not _keep(rule, match):
                continue
            if rule in {"pair", "subject"}:
                start, end = match.start(1), match.end(2)
            else:
                start, end = match.span(3 if rule == "cue" else 1)
            if is_eponym(text, end):
                continue
            bounds = _strip_trailing(text, start, end)
            if bounds is not None:
                found.append((bounds[0], _with_given_name(text, bounds[1]), SCORES[rule]))
    yield from found
    names = name_words(text[start:end] for start, end, _ in found)
    yield from name_mentions(text, names)


def name_words(names: Iterator[str] | Collection[str]) -> set[str]:
    """The words of found names that identify the person wherever they recur."""
    return {
        token.group(0)
        for name in names
        for token in _TOKEN.finditer(name)
        if may_propagate(token.group(0))
    }


def name_mentions(text: str, names: Collection[str]) -> Iterator[tuple[int, int, float]]:
    """Every capitalised mention of a known name word, one scan for all of them.

    A common word that is also a name ("Will", "Hope") counts only where it reads as the
    person; a word before an eponym tail never does.
    """
    if not names:
        return
    common = common_words()
    variants: dict[str, str] = {}
    for name in names:
        forms = {name.capitalize()} if name.lower() in common else {name, name.upper()}
        variants.update({form: name for form in forms | {name.capitalize()}})
    pattern = regex.compile(r"(?<!\p{L})(?:" + alternation(list(variants)) + r")(?!\p{L})")
    for match in pattern.finditer(text):
        if is_eponym(text, match.end()):
            continue
        if match.group(0).lower() in common and not reads_as_subject(text, match.end()):
            continue
        yield match.start(), match.end(), PROPAGATED_SCORE


class _NameRecognizer(LocalRecognizer):
    """A Presidio recognizer over a function that yields (start, end, score) of names.

    The rules live in plain functions (testable without Presidio); this adapts them.
    """

    def __init__(self, name: str, spans: Callable[[str], Iterator[tuple[int, int, float]]]) -> None:
        super().__init__(supported_entities=[PhiKind.NAME.value], name=name)
        self._spans = spans

    def load(self) -> None:
        """Nothing to load: lists and jieba's dictionary load lazily on first use."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [
            RecognizerResult(PhiKind.NAME.value, start, end, score)
            for start, end, score in self._spans(text)
        ]


class EnglishNameRecognizer(_NameRecognizer):
    """Names in English text (rules above)."""

    def __init__(self) -> None:
        super().__init__("en_names", english_name_spans)


class ChineseNameRecognizer(_NameRecognizer):
    """Chinese names (see :mod:`dxkit.deid.recognizers_names_zh`)."""

    def __init__(self) -> None:
        super().__init__("zh_names", chinese_name_spans)
