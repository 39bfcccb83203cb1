"""Pattern recognizers: patterned identifiers from the data files plus Presidio's validated ones.

Presidio's :class:`~presidio_analyzer.PatternRecognizer` runs the regexes; the regexes
themselves are data (``resources/deid/patterns.yaml`` and ``identifier_labels.yaml``).
Where a checksum can tell a real number from a look-alike, a recognizer validates it:
Chinese resident identity numbers (ISO 7064 MOD 11-2) here, card numbers (Luhn), IBANs
and DEA numbers through Presidio's own recognizers.
"""

from __future__ import annotations

from typing import Any

import regex

from dxkit.deid.presidio import (
    CreditCardRecognizer,
    EntityRecognizer,
    IbanRecognizer,
    LocalRecognizer,
    MacAddressRecognizer,
    MedicalLicenseRecognizer,
    NlpArtifacts,
    Pattern,
    PatternRecognizer,
    RecognizerResult,
    UsSsnRecognizer,
    UuidRecognizer,
)
from dxkit.deid.resources import alternation, identifier_labels, pattern_specs
from dxkit.deid.types import PhiKind

LANGUAGE = "en"  # one analysis language: notes mix English and Chinese freely
_FLAGS = regex.DOTALL | regex.MULTILINE
# Presidio's entity names for the predefined recognizers we reuse, as PhiKinds.
PRESIDIO_KINDS: dict[str, PhiKind] = {
    "CREDIT_CARD": PhiKind.ACCOUNT,
    "IBAN_CODE": PhiKind.ACCOUNT,
    "MEDICAL_LICENSE": PhiKind.LICENSE,
    "MAC_ADDRESS": PhiKind.DEVICE,
    "UUID": PhiKind.ID,
    "US_SSN": PhiKind.SSN,
}
# Regions whose phone formats the phonenumbers library checks, besides our own patterns.
_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"


def resident_id_is_valid(number: str) -> bool:
    """Check an 18-character Chinese resident identity number's ISO 7064 MOD 11-2 digit.

    >>> resident_id_is_valid("11010519491231002X")
    True
    >>> resident_id_is_valid("110105194912310021")
    False
    """
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(
        int(digit) * weight for digit, weight in zip(number[:17], _RESIDENT_ID_WEIGHTS, strict=True)
    )
    return _RESIDENT_ID_CHECK[total % 11] == number[17].upper()


class ResidentIdRecognizer(PatternRecognizer):
    """18-digit Chinese resident identity numbers whose check digit is right.

    A labelled number ("身份证号：…") is caught by the label recognizer even when its
    check digit is wrong; bare 18-digit runs need the checksum, which keeps long lab and
    accession numbers out.
    """

    def __init__(self) -> None:
        pattern = Pattern(
            "resident_id",
            r"(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
            r"(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])",
            0.9,
        )
        super().__init__(
            supported_entity=PhiKind.CN_RESIDENT_ID.value,
            name="cn_resident_id",
            patterns=[pattern],
            supported_language=LANGUAGE,
            global_regex_flags=_FLAGS,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return resident_id_is_valid(pattern_text)


def _from_spec(spec: dict[str, Any]) -> PatternRecognizer:
    config = {key: value for key, value in spec.items() if key not in {"source", "case_sensitive"}}
    flags = _FLAGS if spec.get("case_sensitive") else _FLAGS | regex.IGNORECASE
    config["supported_entity"] = PhiKind(config["supported_entity"]).value
    config["supported_language"] = LANGUAGE
    recognizer = PatternRecognizer.from_dict(config)
    recognizer.global_regex_flags = flags
    return recognizer


def data_recognizers() -> list[PatternRecognizer]:
    """One recognizer per entry of ``patterns.yaml``."""
    return [_from_spec(spec) for spec in pattern_specs()]


def _label_alternation(labels: list[str]) -> str:
    """Labels as a regex; a short upper-case label ("DL", "SN") matches only in capitals,
    so the unit "mg/dL" or the word "sn" never reads as a label."""
    exact = [label for label in labels if label.isupper() and len(label) <= 4]
    loose = [label for label in labels if label not in exact]
    parts = [f"(?-i:{alternation(exact)})"] if exact else []
    parts += [alternation(loose)] if loose else []
    return "(?:" + "|".join(parts) + ")"


class LabelledValueRecognizer(LocalRecognizer):
    """Values that follow an identifier label ("MRN: 00482913", "医保卡号：…").

    All labels of ``identifier_labels.yaml`` go into one regex that captures the label
    and the value, so the text is scanned once (a look-behind per kind scanned it ten
    times); the label decides the kind. The span covers the value only, so the label
    stays readable after replacement.
    """

    # A label is the strongest evidence of an identifier's kind: it outranks even a
    # checksum match ("IMEI: 490154203237518" is a device, though Luhn-valid).
    SCORE = 1.0

    def __init__(self) -> None:
        super().__init__(
            supported_entities=[kind.value for kind in PhiKind], name="labelled_values"
        )
        table = identifier_labels()
        joiners = alternation(table["joiners"])
        self._kinds: dict[str, PhiKind] = {}
        branches = []
        for index, (kind_name, labels) in enumerate(table["labels"].items()):
            kind = PhiKind(kind_name)
            value = labels.get("value_regex", table["value_regex"])
            value_zh = labels.get("value_regex", table["value_regex_zh"])
            if labels.get("en"):
                group = f"en{index}"
                self._kinds[group] = kind
                branches.append(
                    rf"(?<![A-Za-z]){_label_alternation(labels['en'])}(?![A-Za-z])\.?"
                    rf"(?:[ \t]*{joiners}\.?)?[ \t]*[:#=]?[ \t]*(?P<{group}>{value})"
                )
            if labels.get("zh"):
                group = f"zh{index}"
                self._kinds[group] = kind
                branches.append(
                    rf"{alternation(labels['zh'])}{alternation(table['joiners_zh'])}?"
                    rf"[ \t]*[:：]?[ \t]*(?P<{group}>{value_zh})"
                )
        self._regex = regex.compile("|".join(branches), _FLAGS | regex.IGNORECASE)

    def load(self) -> None:
        """Compiled in the constructor."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for match in self._regex.finditer(text, overlapped=False):
            group = match.lastgroup
            if group is None:
                continue
            start, end = match.span(group)
            results.append(RecognizerResult(self._kinds[group].value, start, end, self.SCORE))
        return results


def presidio_recognizers() -> list[EntityRecognizer]:
    """Presidio's checksum-validated recognizers that fit clinical notes.

    Presidio's phone recognizer (the phonenumbers library) is left out: it scans the
    text once per region, cost 8 ms of a 27 ms note, and found no number on the
    labelled notes that the phone patterns and labels of the data files missed.
    """
    return [
        CreditCardRecognizer(supported_language=LANGUAGE),
        IbanRecognizer(supported_language=LANGUAGE),
        MedicalLicenseRecognizer(supported_language=LANGUAGE),
        MacAddressRecognizer(supported_language=LANGUAGE),
        UuidRecognizer(supported_language=LANGUAGE),
        UsSsnRecognizer(supported_language=LANGUAGE),
    ]
