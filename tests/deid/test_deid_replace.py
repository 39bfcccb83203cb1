"""The three replacement policies, reproducibility under a key, and idempotency."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

import pytest

from dxkit.deid.engine import Detector
from dxkit.deid.replace import (
    KEY_ENV,
    MAX_SHIFT_DAYS,
    MIN_SHIFT_DAYS,
    Deidentifier,
    Policy,
    date_shift_days,
    parse_policy,
)
from dxkit.deid.types import PhiKind
from dxkit.errors import InputError

K = PhiKind

NOTE_EN = (
    "Seen by Dr. Maria Ruiz on 03/14/2023. Patient: John Smith, MRN: 00482913, "
    "phone (617) 555-0123. Lives at 123 Main Street, Springfield, IL 62701."
)
IDENTIFIERS_EN = [
    "Maria Ruiz",
    "03/14/2023",
    "John Smith",
    "00482913",
    "(617) 555-0123",
    "123 Main Street",
    "Springfield",
    "62701",
]
NOTE_ZH = (
    "患者：张伟，男，93岁，2023年3月14日入院，联系电话13812345678，"
    "住址：北京市朝阳区建国路88号。病历号：A123456。"
)
IDENTIFIERS_ZH = ["张伟", "2023年3月14日", "13812345678", "北京市朝阳区建国路88号", "A123456"]
NOTES = [
    NOTE_EN,
    NOTE_ZH,
    "A 92-year-old woman, e-mail jane.doe@example.com, SSN 123-45-6789. Seen by "
    "Grace Parkinson; Mrs. Parkinson called back on March 14.",
    "Admitted on 3/14/2023 and discharged 3/18/2023. Follow-up with Dr. Chen in May. "
    "Metformin 500 mg BID, BP 128/82 mmHg, pain 7/10.",
    "身份证号码11010519491231002X，医保卡号：1234567890。王女士诉头痛三天，血压 130/85 mmHg。",
]


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide about the key themselves; a key in the caller's shell must not leak in."""
    monkeypatch.delenv(KEY_ENV, raising=False)


def test_tag_policy_writes_tags_and_no_identifier(detector: Detector) -> None:
    result = Deidentifier("tag", detector=detector).deidentify(NOTE_EN)
    for tag in ("[NAME]", "[DATE]", "[MRN]", "[PHONE]", "[LOCATION]"):
        assert tag in result.text
    assert not any(value in result.text for value in IDENTIFIERS_EN)
    assert result.text.startswith("Seen by Dr. [NAME] on [DATE]. Patient: [NAME], MRN: [MRN]")


def test_tag_policy_on_chinese(detector: Detector) -> None:
    result = Deidentifier(Policy.TAG, detector=detector).deidentify(NOTE_ZH)
    assert result.text.startswith("患者：[NAME]，男，[AGE]岁，[DATE]入院，联系电话[PHONE]")
    assert not any(value in result.text for value in IDENTIFIERS_ZH)


def test_counts_by_kind_per_call_and_per_instance(detector: Detector) -> None:
    deid = Deidentifier("tag", detector=detector)
    first = deid.deidentify(NOTE_EN)
    expected = Counter({K.NAME: 2, K.DATE: 1, K.MRN: 1, K.PHONE: 1, K.LOCATION: 1})
    assert first.counts == expected
    assert [span.kind for span in first.spans].count(K.NAME) == 2
    deid.deidentify("MRN: 00482913")
    assert deid.counts == expected + Counter({K.MRN: 1})


def test_remove_policy_deletes_without_double_spaces(detector: Detector) -> None:
    text = "Admitted on 03/14/2023 and seen by Dr. Maria Ruiz today."
    result = Deidentifier("remove", detector=detector).deidentify(text)
    assert result.text == "Admitted on and seen by Dr. today."
    assert result.counts == Counter({K.DATE: 1, K.NAME: 1})


def test_remove_policy_leaves_clinical_text(detector: Detector) -> None:
    text = "MRN: 00482913. BP 128/82 mmHg, SpO2 94%."
    assert Deidentifier("remove", detector=detector).deidentify(text).text == (
        "MRN: . BP 128/82 mmHg, SpO2 94%."
    )


def test_surrogate_policy_is_reproducible_with_key_and_patient(detector: Detector) -> None:
    one = Deidentifier(
        "surrogate", key="secret-key-0123456789", patient_id="p-1", detector=detector
    )
    two = Deidentifier(
        "surrogate", key=b"secret-key-0123456789", patient_id="p-1", detector=detector
    )
    out = one.deidentify(NOTE_EN).text
    assert out == two.deidentify(NOTE_EN).text
    assert not any(value in out for value in IDENTIFIERS_EN)
    assert "Dr. " in out and "MRN: " in out  # labels and titles stay readable


def test_different_patients_get_different_date_offsets(detector: Detector) -> None:
    shifts = {
        Deidentifier(
            "surrogate", key="secret-key-0123456789", patient_id=pid, detector=detector
        ).date_shift_days
        for pid in ("p-1", "p-2", "p-3", "p-4")
    }
    assert len(shifts) == 4


def test_without_a_key_two_instances_differ(detector: Detector) -> None:
    one = Deidentifier("surrogate", patient_id="p-1", detector=detector)
    two = Deidentifier("surrogate", patient_id="p-1", detector=detector)
    assert one.deidentify(NOTE_EN).text != two.deidentify(NOTE_EN).text


def test_key_from_the_environment_makes_surrogates_reproducible(
    detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "from-the-environment")
    one = Deidentifier("surrogate", patient_id="p-9", detector=detector)
    two = Deidentifier("surrogate", patient_id="p-9", detector=detector)
    assert one.deidentify(NOTE_EN).text == two.deidentify(NOTE_EN).text
    explicit = Deidentifier(
        "surrogate", key="from-the-environment", patient_id="p-9", detector=detector
    )
    assert explicit.date_shift_days == one.date_shift_days


def test_date_intervals_survive_surrogates(detector: Detector) -> None:
    text = "Admitted 03/14/2023, discharged 03/18/2023."
    deid = Deidentifier(
        "surrogate", key="secret-key-0123456789", patient_id="p-2", detector=detector
    )
    out = deid.deidentify(text).text
    admitted, discharged = (
        datetime.strptime(value, "%m/%d/%Y") for value in re.findall(r"\d\d/\d\d/\d{4}", out)
    )
    assert (discharged - admitted).days == 4
    shift = (admitted - datetime(2023, 3, 14)).days
    assert shift == deid.date_shift_days != 0


def test_the_same_person_keeps_one_surrogate_across_notes(detector: Detector) -> None:
    deid = Deidentifier(
        "surrogate", key="secret-key-0123456789", patient_id="p-3", detector=detector
    )
    first = deid.deidentify("Seen by Grace Parkinson today.").text
    second = deid.deidentify("Mrs. Parkinson called back.").text
    surname = re.fullmatch(r"Seen by \w+ (\w+) today\.", first)
    assert surname is not None
    assert second == f"Mrs. {surname.group(1)} called back."


@pytest.mark.parametrize("policy", [Policy.TAG, Policy.REMOVE])
@pytest.mark.parametrize("note", NOTES, ids=range(len(NOTES)))
def test_tag_and_remove_are_idempotent(detector: Detector, policy: Policy, note: str) -> None:
    deid = Deidentifier(policy, key="secret-key-0123456789", patient_id="p-5", detector=detector)
    once = deid.deidentify(note).text
    assert once != note
    assert deid.deidentify(once).text == once


def test_a_real_value_equal_to_an_earlier_surrogate_is_still_replaced(
    detector: Detector,
) -> None:
    # surrogates cannot be told from real text, so none is protected on a second pass:
    # the real discharge date below must move even if it equals a surrogate issued before
    deid = Deidentifier(
        "surrogate", key="secret-key-0123456789", patient_id="p-6", detector=detector
    )
    first = deid.deidentify("Admitted 03/01/2023.").text
    issued = first.removeprefix("Admitted ").removesuffix(".")
    second = deid.deidentify(f"Discharged {issued}.").text
    assert issued not in second
    assert len(Counter([first, second])) == 2


def test_wrong_keys_are_refused() -> None:
    with pytest.raises(InputError, match="at least 16 bytes; found 3 bytes"):
        Deidentifier("tag", key="abc")


@pytest.mark.parametrize(
    ("value", "policy"), [("tag", Policy.TAG), (" Surrogate ", Policy.SURROGATE)]
)
def test_parse_policy_accepts_the_choices(value: str, policy: Policy) -> None:
    assert parse_policy(value) is policy


def test_parse_policy_rejects_others_naming_the_choices() -> None:
    with pytest.raises(InputError, match=r"expected tag \| surrogate \| remove; found 'bogus'"):
        parse_policy("bogus")
    with pytest.raises(InputError, match="--policy"):
        Deidentifier("redact", detector=None)


def test_date_shift_days_is_bounded_nonzero_and_both_ways() -> None:
    shifts = [date_shift_days(b"secret", f"patient-{i}") for i in range(300)]
    assert all(MIN_SHIFT_DAYS <= abs(shift) <= MAX_SHIFT_DAYS for shift in shifts)
    assert (MIN_SHIFT_DAYS, MAX_SHIFT_DAYS) == (30, 365)
    assert any(shift < 0 for shift in shifts) and any(shift > 0 for shift in shifts)
    assert date_shift_days(b"secret", "patient-1") == date_shift_days(b"secret", "patient-1")
    assert len(set(shifts)) > 200
