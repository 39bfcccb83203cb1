"""Person-name recognizers for English and Chinese notes, without a trained NER model.

A name list alone is useless in clinical text: the census surname list holds "Pain",
"Blood" and "Parkinson". So a capitalised word becomes a name only with evidence: a
title ("Dr. Ruiz"), a cue ("seen by", "son", "Patient:"), a credential ("Smith, MD"), an
initial ("J. Smith") or a known first name followed by a capitalised word ("Grace
Parkinson"). A word after an eponym tail ("Parkinson disease", "Bell's palsy") is never
a name. Once a document names someone, every other capitalised mention of that word in
the document is the same person. Chinese names are found with jieba's part-of-speech
tags (``nr``) plus the surname list and the words around them ("患者", "女士").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from dxkit.deid.presidio import LocalRecognizer, NlpArtifacts, RecognizerResult
from dxkit.deid.recognizers_names_zh import chinese_name_spans
from dxkit.deid.resources import alternation, vocabulary
from dxkit.deid.types import PhiKind

_WORD = r"(?:Mc|Mac|O['’]|D['’])?[A-Z][a-z]+(?:[-'’][A-Z][a-z]+)*"
_CAPS = r"[A-Z]{2,}(?:[-'’][A-Z]{2,})?"
_PARTICLE = r"(?:van|von|de|da|del|der|di|la|le|bin|ibn|al|dos|das)"
# words of one name sit on one line: "Smith\nThe patient" is a name and a sentence
_NAME_SEQ = rf"{_WORD}(?:[ \t]+(?:[A-Z]\.[ \t]*)?(?:{_PARTICLE}[ \t]+)?{_WORD}){{0,3}}"
_TOKEN = re.compile(rf"{_WORD}|{_CAPS}")

SCORES = {
    "title": 0.9,
    "cue": 0.85,
    "field": 0.85,
    "credential": 0.9,
    "initial": 0.85,
    "pair": 0.8,
}
# Below the date patterns, so "May" propagated from "May Smoczyk" loses to "in May 2021".
PROPAGATED_SCORE = 0.7


@cache
def stop_words() -> frozenset[str]:
    """English function words (spaCy's list): never the last word of a name."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(word.lower() for word in STOP_WORDS)


@cache
def common_words() -> frozenset[str]:
    """Lower-case words that are not names without a title or cue: the stop words, the
    months and the clinical vocabulary of the knowledge base (condition names, aliases,
    symptoms), plus the words of note headings and facility names."""
    from dxkit.knowledge.loader import load_knowledge_base

    words: set[str] = set(stop_words())
    kb = load_knowledge_base()
    phrases = [c.name for c in kb.conditions.values()]
    phrases += [alias for c in kb.conditions.values() for alias in c.aliases]
    phrases += [phrase for s in kb.symptoms.values() for phrase in s.en]
    for phrase in phrases:
        words.update(token.lower() for token in re.findall(r"[A-Za-z]+", phrase))
    words.update(month.lower() for month in vocabulary().months_full)
    words.update(
        [
            "patient",
            "history",
            "exam",
            "plan",
            "assessment",
            "impression",
            "normal",
            "left",
            "right",
            "bilateral",
            "hospital",
            "clinic",
            "street",
            "avenue",
            "road",
            "chief",
            "complaint",
            "present",
            "illness",
            "review",
            "systems",
            "medications",
            "allergies",
            "social",
            "family",
            "physical",
            "vital",
            "signs",
            "labs",
            "results",
            "discharge",
            "admission",
            "follow",
            "diagnosis",
            "procedure",
            "findings",
            "note",
            "report",
            "dear",
            "medical",
            "center",
            "centre",
            "regional",
            "memorial",
            "general",
            "community",
            "university",
            "health",
            "care",
            "emergency",
            "department",
            "unit",
            "ward",
            "service",
            "services",
        ]
    )
    return frozenset(words)


_CUE_WORDS = frozenset(cue.lower() for cue in vocabulary().name_cues)


def _reads_as_subject(text: str, end: int) -> bool:
    """Whether a common-word name ("Will", "May", "Hope") is the person here.

    A modal or noun is followed by a base-form verb or by nothing verb-like ("Will
    follow up", "May need", "Hope is"...); the person is followed by a finite verb
    ("Will reports", "May understands", "Hope was") or by a possessive.
    """
    following = re.match(r"(['’]s\b)|\s+([a-z]+)", text[end : end + 30])
    if following is None:
        return False
    if following.group(1):
        return True
    verb = following.group(2)
    return verb in _FINITE or (verb.endswith(("s", "ed")) and verb not in _NOT_FINITE)


_FINITE = frozenset(["is", "was", "has", "had", "does", "did", "says", "feels"])
_NOT_FINITE = frozenset(
    ["this", "his", "us", "as", "less", "always", "perhaps", "thus", "plus", "bus", "gas"]
)


@cache
def _patterns() -> dict[str, re.Pattern[str]]:
    words = vocabulary()
    titles = alternation(words.name_titles)
    cues = alternation(words.name_cues)
    credentials = alternation(words.credentials)
    return {
        "title": re.compile(rf"\b{titles}\.?\s+((?:[A-Z]\.\s*)*(?:{_NAME_SEQ}|{_CAPS}))"),
        "cue": re.compile(
            rf"(?i:\b{cues})[ \t]*[:,-]?[ \t]+(?:{titles}\.?[ \t]+)?"
            rf"((?!{titles}\b)(?:[A-Z]\.\s*)*{_NAME_SEQ})"
        ),
        # "NAME: SMITH, JOHN": upper-case names only right after a name field
        "field": re.compile(
            rf"(?i:\b(?:patient name|patient|name|pt name|pt))[ \t]*:[ \t]*"
            rf"({_CAPS}(?:,\s*{_CAPS})?(?:\s+{_CAPS}){{0,2}})\b"
        ),
        "credential": re.compile(rf"((?:[A-Z]\.\s*)*{_NAME_SEQ}),?\s+{credentials}\b"),
        "initial": re.compile(rf"(?<![A-Za-z.])((?:[A-Z]\.\s?){{1,2}}{_WORD})"),
        "pair": re.compile(rf"\b({_WORD})\s+(?:[A-Z]\.\s+)?({_WORD})\b"),
    }


def _may_be_surname(word: str) -> bool:
    """A word after a first name is a surname unless it is a function word, or a
    clinical word that is not also a common surname ("Grace Parkinson" is a name;
    "Grace period" and "Rose Fever" are not)."""
    lower = word.lower()
    if lower in stop_words():
        return False
    return lower not in common_words() or word.capitalize() in vocabulary().last_name_set


def _is_known_name(caps: str) -> bool:
    """Upper-case words after a name field are a name only if one of them is a listed
    name ("SMITH, JOHN"), not a header ("DOB", "MRN")."""
    words = vocabulary()
    tokens = [token.capitalize() for token in re.findall(r"[A-Z]+", caps)]
    return any(t in words.first_name_set or t in words.last_name_set for t in tokens)


def _is_eponym(text: str, end: int) -> bool:
    """True when the word ending at ``end`` is followed by a tail like "disease"."""
    follow = re.match(r"(?:['’]s?)?\s+([A-Za-z\u4e00-\u9fff-]+)", text[end : end + 40])
    return bool(follow and follow.group(1).lower() in vocabulary().eponym_tails)


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


def english_name_spans(text: str) -> Iterator[tuple[int, int, float]]:
    """(start, end, score) of every English person name the rules find."""
    words = vocabulary()
    found: list[tuple[int, int, float]] = []
    for rule, pattern in _patterns().items():
        for match in pattern.finditer(text):
            start, end = match.span(1)
            if rule == "pair":
                first, second = match.group(1), match.group(2)
                if first not in words.first_name_set or not _may_be_surname(second):
                    continue
                if first.lower() in stop_words() and (
                    second not in words.last_name_set or second.lower() in common_words()
                ):
                    continue  # "An Esmarch", "In January": need a listed, non-clinical surname
                if len(second) < 3 and second not in words.last_name_set:
                    continue  # "Ta Nx" (tumour stage) is no name; "Li", "Ng" are
                if first.lower() in _CUE_WORDS:
                    continue  # "Son Quang": the cue rule names Quang; "Son" is kin
                start, end = match.start(1), match.end(2)
            elif (rule == "field" and not _is_known_name(match.group(1))) or (
                rule == "initial"
                and text[match.start(1) : match.end(1)].split(".")[-1].strip()
                not in words.last_name_set
            ):
                continue
            if _is_eponym(text, end):
                continue
            bounds = _strip_trailing(text, start, end)
            if bounds is not None:
                found.append((bounds[0], bounds[1], SCORES[rule]))
    yield from found
    yield from _propagate(text, found)


def _may_propagate(word: str) -> bool:
    """Stop words propagate only when they are also names ("Will", "May", "Hope")."""
    if word.lower() in vocabulary().never_propagated:
        return False
    if word.lower() not in stop_words():
        return True
    words = vocabulary()
    return word.capitalize() in words.first_name_set or word.capitalize() in words.last_name_set


def _propagate(text: str, found: list[tuple[int, int, float]]) -> Iterator[tuple[int, int, float]]:
    """Other capitalised mentions of a word already found as a name in this document."""
    common = common_words()
    names = {
        token.group(0)
        for start, end, _ in found
        for token in _TOKEN.finditer(text[start:end])
        if len(token.group(0)) > 1 and _may_propagate(token.group(0))
    }
    for name in names:
        is_common = name.lower() in common
        variants = {name.capitalize()} if is_common else {name, name.upper(), name.capitalize()}
        pattern = re.compile(r"(?<![A-Za-z])(?:" + "|".join(map(re.escape, variants)) + r")\b")
        for match in pattern.finditer(text):
            if _is_eponym(text, match.end()):
                continue
            if is_common and not _reads_as_subject(text, match.end()):
                continue
            yield match.start(), match.end(), PROPAGATED_SCORE


class EnglishNameRecognizer(LocalRecognizer):
    """Presidio recognizer for names in English text (rules above)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[PhiKind.NAME.value], name="en_names")

    def load(self) -> None:
        """Nothing to load: the lists are read lazily and cached."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [
            RecognizerResult(PhiKind.NAME.value, start, end, score)
            for start, end, score in english_name_spans(text)
        ]


class ChineseNameRecognizer(LocalRecognizer):
    """Presidio recognizer for Chinese names (see :mod:`dxkit.deid.recognizers_names_zh`)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[PhiKind.NAME.value], name="zh_names")

    def load(self) -> None:
        """Nothing to load: jieba's dictionary loads on first use."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [
            RecognizerResult(PhiKind.NAME.value, start, end, score)
            for start, end, score in chinese_name_spans(text)
        ]
