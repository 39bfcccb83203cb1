"""Invented replacements that keep a note readable and internally consistent.

A surrogate keeps the *shape* of what it replaces (a phone number stays a phone number of
the same layout, a two-word name stays two words, a Chinese address keeps its 省/市/路/号
skeleton) but none of its content. Within one :class:`SurrogateBook` the same original
always gets the same surrogate, and the parts of a name are mapped one by one, so "Grace
Parkinson", "Mrs. Parkinson" and "Grace" stay one person. Randomness comes from the
book's own seeded generator, never from the original text, so a surrogate reveals nothing
about the value it replaced.
"""

from __future__ import annotations

import random
import re
import string

from dxkit.deid.dates import shift_date_text
from dxkit.deid.recognizers_patterns import resident_id_is_valid
from dxkit.deid.resources import vocabulary
from dxkit.deid.types import PhiKind

_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[^\W\d_]+")
_SEGMENT = re.compile(r"[^,\n]+")
# Chinese address skeleton characters that carry no identity and are kept.
_ZH_ADDRESS_UNITS = set(
    "省市区县镇乡村路街巷道号楼栋幢座室单元弄小区胡同大道自治旗盟州医院中心诊所卫生保健"
)
# Words of an English address that carry no identity and are kept.
_EN_KEPT = {"apt", "apartment", "suite", "ste", "unit", "room", "box", "po", "p", "o"}
# A surrogate name pool: frequent names are plausible and say nothing about anyone.
_POOL = 500
AGE_SURROGATE = "90+"


class SurrogateBook:
    """One document's or patient's consistent surrogates, and its date offset."""

    def __init__(self, seed: int, date_shift_days: int) -> None:
        self._rng = random.Random(seed)
        self.date_shift_days = date_shift_days
        self._words: dict[str, str] = {}
        self._values: dict[tuple[PhiKind, str], str] = {}

    def replace(self, kind: PhiKind, text: str) -> str:
        """The surrogate for ``text`` of ``kind``; the same input gives the same output,
        and the output never equals the input (except an age, always "90+")."""
        key = (kind, text)
        if key not in self._values:
            surrogate = self._invent(kind, text)
            for _ in range(5):  # a random draw can land on the original: draw again
                if surrogate != text or kind is PhiKind.AGE:
                    break
                surrogate = self._invent(kind, text)
            self._values[key] = surrogate if surrogate != text else kind.tag
        return self._values[key]

    def _invent(self, kind: PhiKind, text: str) -> str:
        if kind is PhiKind.NAME:
            return self._name(text)
        if kind is PhiKind.LOCATION:
            return self._location(text)
        if kind is PhiKind.DATE:
            return shift_date_text(text, self.date_shift_days) or PhiKind.DATE.tag
        if kind is PhiKind.AGE:
            return AGE_SURROGATE
        if kind is PhiKind.EMAIL:
            return f"person{self._rng.randrange(10_000):04d}@example.org"
        if kind is PhiKind.URL:
            return f"https://example.org/{self._rng.randrange(10**6):06d}"
        if kind is PhiKind.IP:
            if ":" in text:
                return f"2001:db8::{self._rng.randrange(1, 0xFFFF):x}"  # RFC 3849
            return f"192.0.2.{self._rng.randrange(1, 255)}"  # RFC 5737 TEST-NET-1
        if kind is PhiKind.CN_RESIDENT_ID and len(text) == 18:
            return self._resident_id()
        if kind is PhiKind.SSN:
            return "9" + self._scramble(text[1:])  # area 9xx is never issued
        if kind is PhiKind.PHONE:
            return self._phone(text)
        return self._scramble(text)

    def _word(self, word: str, pool: tuple[str, ...]) -> str:
        """One word's consistent replacement from ``pool`` (never the word itself), in
        the original's case."""
        key = word.lower()
        if key not in self._words:
            choices = [candidate for candidate in pool if candidate.lower() != key] or list(pool)
            self._words[key] = self._rng.choice(choices)
        new = self._words[key]
        return new.upper() if word.isupper() and len(word) > 1 else new

    def _name(self, text: str) -> str:
        words = vocabulary()
        if _HAN.search(text):
            return self._chinese_name(text)
        first_pool, last_pool = words.first_names[:_POOL], words.last_names[:_POOL]
        titles = set(words.name_titles) | set(words.credentials)

        def swap(match: re.Match[str]) -> str:
            word = match.group(0)
            if word in titles:
                return word  # "Mrs." stays: a title says nothing about who
            if len(word) == 1:  # an initial
                return self._word(word, tuple(string.ascii_uppercase))
            is_first = word.capitalize() in words.first_name_set
            return self._word(word, first_pool if is_first else last_pool)

        return _LATIN_WORD.sub(swap, text)

    def _chinese_name(self, text: str) -> str:
        words = vocabulary()
        surnames = sorted(words.zh_surnames, key=len, reverse=True)
        surname = next((s for s in surnames if text.startswith(s)), "")
        given = text[len(surname) :]
        new_surname = self._word(surname, words.zh_surnames[:100]) if surname else ""
        if given:
            key = f"given:{given}"
            if key not in self._words:
                chars = words.zh_given_chars
                self._words[key] = "".join(self._rng.choice(chars) for _ in given)
            return new_surname + self._words[key]
        return new_surname

    def _location(self, text: str) -> str:
        words = vocabulary()
        if _HAN.search(text):
            return "".join(
                char
                if char in _ZH_ADDRESS_UNITS
                else self._word(char, words.zh_place_chars)
                if _HAN.match(char)
                else self._scramble(char)
                for char in text
            )
        return self._scramble(
            _SEGMENT.sub(lambda segment: self._place_segment(segment.group(0)), text),
            letters=False,
        )

    def _place_segment(self, segment: str) -> str:
        """One comma-separated part of an address: every name word replaced, except the
        street suffix that ends a numbered street line ("716 Scott Pike" keeps "Pike"),
        unit words ("Apt") and a two-letter state code after a comma."""
        words = vocabulary()
        tokens = list(_LATIN_WORD.finditer(segment))
        suffixes = {suffix.lower() for suffix in words.street_suffixes}
        numbered = bool(re.match(r"\s*\d", segment))
        out, cursor = [], 0
        for index, token in enumerate(tokens):
            word = token.group(0)
            last = index == len(tokens) - 1 or tokens[index + 1].group(0).lower() in _EN_KEPT
            keep = (
                word.lower() in _EN_KEPT
                or (numbered and last and index > 0 and word.lower() in suffixes)
                or (word in words.states and len(tokens) <= 2 and word.isupper())
            )
            out += [
                segment[cursor : token.start()],
                word if keep else self._word(word, words.place_words),
            ]
            cursor = token.end()
        out.append(segment[cursor:])
        return "".join(out)

    def _phone(self, text: str) -> str:
        """Keep the country code and the leading digit (two for a mainland mobile, whose
        "13"-"19" says mobile, not who); scramble the other digits, keep "ext." etc."""
        prefix = re.match(r"(?:\(?(?:\+|00)\d{1,3}\)?[-.\s]?)?\D*(?:1[3-9]|\d)", text)
        cut = prefix.end() if prefix else 0
        return text[:cut] + self._scramble(text[cut:], letters=False)

    def _scramble(self, text: str, *, letters: bool = True) -> str:
        """Every digit (and letter) replaced at random; separators and case kept."""
        out = []
        for char in text:
            if char.isdigit() and char.isascii():
                out.append(str(self._rng.randrange(10)))
            elif letters and char.isascii() and char.isalpha():
                new = self._rng.choice(string.ascii_uppercase)
                out.append(new if char.isupper() else new.lower())
            else:
                out.append(char)
        return "".join(out)

    def _resident_id(self) -> str:
        """A random resident number with a real-looking birth date and a valid check digit."""
        while True:
            birth = f"{self._rng.randrange(1930, 2020)}{self._rng.randrange(1, 13):02d}"
            body = f"{self._rng.randrange(110000, 660000)}{birth}{self._rng.randrange(1, 29):02d}"
            body += f"{self._rng.randrange(1000):03d}"
            for check in "0123456789X":
                if resident_id_is_valid(body + check):
                    return body + check
