"""Replace what the detector found: by a tag, by a consistent surrogate, or by nothing.

:class:`Deidentifier` is the one entry point. It holds one patient's or document's
surrogate book, so every call on the same instance gives the same person the same fake
name and moves every date by the same offset (intervals survive). The offset and the
surrogates derive from a secret key and the patient id when both are given (the same
patient gets the same surrogates in every run with that key), otherwise from fresh
randomness. Name words found in one call are looked for in the next (the next block of a
file, the next field of a case).

``tag`` and ``remove`` are idempotent: tags are never detected again, and removal runs to
a fixed point. ``surrogate`` output cannot be told from real text (that is its purpose),
so running it twice replaces the surrogates again; cases are protected by their
``deidentified`` mark instead, which the pipeline checks.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from dxkit.deid.engine import Detector, name_words_of
from dxkit.deid.surrogates import SurrogateBook
from dxkit.deid.types import PhiKind, PhiSpan
from dxkit.errors import InputError

KEY_ENV = "DXKIT_DEID_KEY"
# Dates move by at least a month and at most a year, backwards or forwards.
MIN_SHIFT_DAYS, MAX_SHIFT_DAYS = 30, 365
_MAX_REMOVE_PASSES = 3
# A key anyone could guess makes every surrogate and date offset reproducible by them.
MIN_KEY_BYTES = 16


class Policy(StrEnum):
    """How an identifier is replaced."""

    TAG = "tag"  # "[NAME]": what it was, not who
    SURROGATE = "surrogate"  # an invented value of the same shape, consistent per patient
    REMOVE = "remove"  # deleted


def parse_policy(value: str) -> Policy:
    """The policy named ``value``, or an error that lists the choices."""
    try:
        return Policy(value.strip().lower())
    except ValueError:
        choices = " | ".join(policy.value for policy in Policy)
        raise InputError(
            "--policy", expected=choices, found=repr(value), fix="pass --policy tag"
        ) from None


@dataclass
class DeidResult:
    """De-identified text and what was found in it (kinds and counts, never values)."""

    text: str
    spans: list[PhiSpan]
    counts: Counter[PhiKind] = field(default_factory=Counter)


def _key_material(key: bytes | str | None) -> bytes:
    if key is None:
        key = os.environ.get(KEY_ENV)
    if key is None:
        return secrets.token_bytes(32)
    material = key.encode("utf-8") if isinstance(key, str) else key
    if len(material) < MIN_KEY_BYTES:
        raise InputError(
            "de-identification key",
            expected=f"a secret of at least {MIN_KEY_BYTES} bytes",
            found=f"{len(material)} bytes",
            fix=f"set {KEY_ENV} to a long random string, e.g. `openssl rand -hex 32`",
        )
    return material


def _derive(key: bytes, purpose: str, patient_id: str) -> int:
    digest = hmac.new(key, f"{purpose}\x00{patient_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def date_shift_days(key: bytes, patient_id: str) -> int:
    """The patient's date offset: ±30-365 days, never zero, fixed by key and patient."""
    value = _derive(key, "date-shift", patient_id)
    days = MIN_SHIFT_DAYS + value % (MAX_SHIFT_DAYS - MIN_SHIFT_DAYS + 1)
    return days if (value >> 32) % 2 else -days


class Deidentifier:
    """Detect and replace identifiers for one patient or document.

    Args:
        policy: ``tag``, ``surrogate`` or ``remove``.
        key: secret that makes surrogates and date offsets reproducible per patient
            (default: ``$DXKIT_DEID_KEY``, else fresh randomness for this instance).
        patient_id: whose text this is; with a key, fixes this patient's surrogates.
        detector: a shared :class:`Detector` (they are costly to build).
    """

    def __init__(
        self,
        policy: Policy | str = Policy.TAG,
        *,
        key: bytes | str | None = None,
        patient_id: str = "",
        detector: Detector | None = None,
    ) -> None:
        self.policy = policy if isinstance(policy, Policy) else parse_policy(policy)
        material = _key_material(key)
        self.date_shift_days = date_shift_days(material, patient_id)
        self.book = SurrogateBook(_derive(material, "surrogates", patient_id), self.date_shift_days)
        self.detector = detector or Detector()
        self.counts: Counter[PhiKind] = Counter()
        self.known_names: set[str] = set()

    def deidentify(self, text: str) -> DeidResult:
        """``text`` with every identifier replaced under this instance's policy.

        Removal can join the words around a gap into something that reads like a new
        identifier ("Address: PCP: Dr"); so ``remove`` repeats until nothing more is
        found (at most three passes), which makes its output a fixed point as well.
        """
        result = self._one_pass(text)
        passes = 1
        while self.policy is Policy.REMOVE and result.spans and passes < _MAX_REMOVE_PASSES:
            again = self._one_pass(result.text)
            if not again.spans:
                break
            result = DeidResult(again.text, result.spans, result.counts + again.counts)
            passes += 1
        self.counts.update(result.counts)
        return result

    def _one_pass(self, text: str) -> DeidResult:
        spans = self.detector.detect(text, self.known_names)
        self.known_names |= name_words_of(text, spans)
        pieces, cursor = [], 0
        for span in spans:
            before = text[cursor : span.start]
            replacement = self._replacement(span.kind, span.text(text))
            if not replacement and before.endswith(" ") and text[span.end : span.end + 1] == " ":
                before = before[:-1]  # removal: "seen by Smith on" -> "seen by on"
            pieces += [before, replacement]
            cursor = span.end
        pieces.append(text[cursor:])
        out = "".join(pieces)
        return DeidResult(out, spans, Counter(span.kind for span in spans))

    def _replacement(self, kind: PhiKind, value: str) -> str:
        if self.policy is Policy.TAG:
            return kind.tag
        if self.policy is Policy.SURROGATE:
            return self.book.replace(kind, value)
        return ""
