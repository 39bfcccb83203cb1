"""The vocabulary of de-identification: what kinds of identifier exist and where one lies.

Every stage of :mod:`dxkit.deid` (detectors, replacement, the labelled-note generator
and the evaluation) speaks in :class:`PhiSpan` over these kinds, so a detector, a gold
label and a replacement can be compared without translation tables.

The kinds follow the HIPAA Safe Harbor list (45 CFR 164.514(b)(2)) as it can occur in
free text, with the Chinese resident identity number as its own kind because it carries a
check digit and encodes a birth date.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PhiKind(StrEnum):
    """One kind of protected health information; its value is the replacement tag."""

    NAME = "NAME"  # people: patients, relatives, clinicians
    LOCATION = "LOCATION"  # street address, city, county, ZIP, facility; < a state
    DATE = "DATE"  # any date element except the year alone
    AGE = "AGE"  # ages over 89
    PHONE = "PHONE"  # telephone and fax numbers, mainland mobile numbers
    EMAIL = "EMAIL"
    SSN = "SSN"
    MRN = "MRN"  # medical record numbers
    HEALTH_PLAN = "HEALTH_PLAN"  # health plan beneficiary / insurance member numbers
    ACCOUNT = "ACCOUNT"  # account and billing numbers
    LICENSE = "LICENSE"  # certificate / licence numbers (driver, medical, DEA)
    VEHICLE = "VEHICLE"  # vehicle identifiers: VIN, licence plates
    DEVICE = "DEVICE"  # device identifiers and serial numbers
    URL = "URL"
    IP = "IP"
    BIOMETRIC = "BIOMETRIC"  # biometric identifiers named in text (fingerprint, voice, retina IDs)
    ID = "ID"  # any other unique identifying number or code
    CN_RESIDENT_ID = "CN_RESIDENT_ID"  # 18-digit resident identity number with check digit

    @property
    def tag(self) -> str:
        """The placeholder the ``tag`` policy writes, e.g. ``[NAME]``."""
        return f"[{self.value}]"


# Kinds whose surface form follows a pattern: the issue sets recall >= 0.99 for these.
PATTERNED_KINDS: frozenset[PhiKind] = frozenset(
    {
        PhiKind.DATE,
        PhiKind.PHONE,
        PhiKind.EMAIL,
        PhiKind.SSN,
        PhiKind.MRN,
        PhiKind.HEALTH_PLAN,
        PhiKind.ACCOUNT,
        PhiKind.LICENSE,
        PhiKind.VEHICLE,
        PhiKind.DEVICE,
        PhiKind.URL,
        PhiKind.IP,
        PhiKind.CN_RESIDENT_ID,
    }
)


@dataclass(frozen=True, order=True)
class PhiSpan:
    """One identifier in a text: characters ``start:end`` of kind ``kind``.

    ``score`` is the detector's confidence (1.0 for gold labels); it decides which of two
    overlapping detections wins.
    """

    start: int
    end: int
    kind: PhiKind
    score: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"span needs 0 <= start < end, got {self.start}:{self.end}")

    def text(self, document: str) -> str:
        """The characters this span covers in ``document``."""
        return document[self.start : self.end]

    def overlaps(self, other: PhiSpan) -> bool:
        """True when the two spans share at least one character."""
        return self.start < other.end and other.start < self.end
