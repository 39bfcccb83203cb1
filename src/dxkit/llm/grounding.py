"""Is a finding an LLM cites really in the case? Sentence-level grounding checks.

Why strict: a narrative that cites "troponin 180 ng/L" when the case has no troponin is
worse than no narrative. A finding counts as grounded when, after normalising case and
punctuation, it occurs in the case text verbatim, or (for alphabetic scripts) every word
of a short finding occurs among the words of the case. Chinese findings must occur
verbatim, since words there are not separated by spaces.
"""

from __future__ import annotations

import re
import unicodedata

from dxkit.cases.schema import Case
from dxkit.features.text import case_to_text, observation_phrases

MAX_WORDS = 8  # longer findings must match verbatim, not word by word
_QUOTES = re.compile(r"\"([^\"]{3,200})\"|“([^”]{2,200})”|「([^」]{2,200})」")
_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_CJK = re.compile(r"[\u3400-\u9fff]")
_STRIP = re.compile(r"[\s\"'“”‘’「」。，、；：！？,.;:!?()\[\]{}]+")


def normalise(text: str) -> str:
    """Lower case, NFKC, punctuation and whitespace collapsed to single spaces."""
    return _STRIP.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


class CaseFacts:
    """The case's text, normalised once, for many grounding checks."""

    def __init__(self, case: Case) -> None:
        parts = [case_to_text(case, flag_keys=False), *observation_phrases(case, flag_keys=False)]
        self.text = " " + normalise(" ".join(parts)) + " "
        self.compact = self.text.replace(" ", "")
        self.words = set(_WORD.findall(self.text))

    def has(self, finding: str) -> bool:
        """Whether ``finding`` is found in the case (see the module docstring)."""
        norm = normalise(finding)
        if len(norm.replace(" ", "")) < 2:
            return False
        if _CJK.search(norm):
            return norm.replace(" ", "") in self.compact
        if f" {norm} " in self.text:
            return True
        words = _WORD.findall(norm)
        return 0 < len(words) <= MAX_WORDS and all(w in self.words for w in words)


def quoted_spans(sentence: str) -> list[str]:
    """Spans a sentence quotes ("..." or “...” or 「...」): each must be in the case too."""
    return [next(g for g in match.groups() if g) for match in _QUOTES.finditer(sentence)]


def is_grounded(sentence: str, findings: list[str], facts: CaseFacts) -> bool:
    """A sentence is grounded when it cites something and every citation is in the case.

    >>> from dxkit.cases.schema import Case
    >>> facts = CaseFacts(Case(case_id="1", notes="Fever and dry cough for 3 days."))
    >>> is_grounded("Febrile with cough.", ["fever", "dry cough"], facts)
    True
    >>> is_grounded("Troponin raised.", ["troponin 180"], facts)
    False
    >>> is_grounded('Reports "night sweats".', ["fever"], facts)
    False
    """
    cited = [*findings, *quoted_spans(sentence)]
    return bool(cited) and all(facts.has(item) for item in cited)
