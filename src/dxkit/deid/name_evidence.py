"""The word-level evidence the English name rules weigh: is this word a name here?

Kept apart from the rules themselves (:mod:`dxkit.deid.recognizers_names`) because the
same questions serve several rules and the propagation of names across a document:
is it a function word, a clinical word, a listed name, an eponym before "disease", a
common word that here reads as the person ("Will reports…") rather than a modal?
"""

from __future__ import annotations

import re
from functools import cache

from dxkit.deid.resources import vocabulary


@cache
def stop_words() -> frozenset[str]:
    """English function words (spaCy's list): never the last word of a name."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(word.lower() for word in STOP_WORDS)


@cache
def common_words() -> frozenset[str]:
    """Lower-case words that are not names without a title or cue: the stop words, the
    months, the clinical vocabulary of the knowledge base (condition names, aliases,
    symptoms) and the ``not_names`` list (sections, services, orders)."""
    from dxkit.knowledge.loader import load_knowledge_base

    words: set[str] = set(stop_words())
    kb = load_knowledge_base()
    phrases = [c.name for c in kb.conditions.values()]
    phrases += [alias for c in kb.conditions.values() for alias in c.aliases]
    phrases += [phrase for s in kb.symptoms.values() for phrase in s.en]
    for phrase in phrases:
        words.update(token.lower() for token in re.findall(r"[A-Za-z]+", phrase))
    words.update(month.lower() for month in vocabulary().months_full)
    words.update(vocabulary().not_names)
    return frozenset(words)


def is_listed_name(word: str) -> bool:
    """In the census first-name or surname list (any case)."""
    words, key = vocabulary(), word.capitalize()
    return key in words.first_name_set or key in words.last_name_set


def may_be_surname(word: str) -> bool:
    """A word after a first name is a surname unless it is a function word, or a
    clinical word that is not also a common surname ("Grace Parkinson" is a name;
    "Grace period" and "Rose Fever" are not)."""
    lower = word.lower()
    if lower in stop_words():
        return False
    return lower not in common_words() or word.capitalize() in vocabulary().last_name_set


def is_clinical_word(word: str) -> bool:
    """A common or clinical word that is not a listed first name ("Breast", "Denies",
    "Cardiology" are clinical; "Hope" and "Grace" may be people)."""
    return word.lower() in common_words() and word.capitalize() not in vocabulary().first_name_set


def is_eponym(text: str, end: int) -> bool:
    """True when the word ending at ``end`` is followed by a tail like "disease"."""
    follow = re.match(r"(?:['’]s?)?\s+([^\W\d_]+)", text[end : end + 40])
    return bool(follow and follow.group(1).lower() in vocabulary().eponym_tails)


def may_propagate(word: str) -> bool:
    """Whether other mentions of this name word in a document are the same person.

    Pronouns and particles that are also surnames ("He", "An") never propagate; other
    stop words only when they are listed names ("Will", "May", "Hope").
    """
    lower = word.lower()
    if len(word) < 2 or lower in vocabulary().never_propagated:
        return False
    return lower not in stop_words() or is_listed_name(word)


def reads_as_subject(text: str, end: int) -> bool:
    """Whether a common-word name ("Will", "May", "Hope") is the person here.

    A modal or noun is followed by a base-form verb or by nothing verb-like ("Will
    follow up", "May need"); the person is followed by a finite verb ("Will reports",
    "May understands", "Hope was") or by a possessive.
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
