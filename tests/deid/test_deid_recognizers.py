"""The recognizers through the detector: exact spans for every kind, in English and Chinese.

Each row pins the full list of what the detector finds, so a pattern that reaches too
far ("From Boston"), too short ("ext. 45" left behind) or fires on clinical content fails.
The regression rows at the end pin defects found in review and fixed since.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dxkit.deid.recognizers_patterns import resident_id_is_valid
from dxkit.deid.resources import alternation
from dxkit.deid.types import PhiKind

K = PhiKind
Found = list[tuple[PhiKind, str]]
Find = Callable[[str], Found]

NAMES = [
    ("Seen by Dr. Maria Ruiz today.", [(K.NAME, "Maria Ruiz")]),  # title
    ("Mrs. Parkinson called back.", [(K.NAME, "Parkinson")]),  # title, eponym word
    ("Patient: John Smith presented with cough.", [(K.NAME, "John Smith")]),  # cue
    ("Discussed with daughter Linda Park at bedside.", [(K.NAME, "Linda Park")]),  # kin cue
    ("Her son, Quang, visited.", [(K.NAME, "Quang")]),
    ("Note signed by Alan Chen, MD.", [(K.NAME, "Alan Chen")]),
    ("Electronically signed: Sarah O'Neil, RN", [(K.NAME, "Sarah O'Neil")]),  # credential
    ("J. Smith reviewed the labs.", [(K.NAME, "J. Smith")]),  # initial
    ("Maria Ruiz came in today.", [(K.NAME, "Maria Ruiz")]),  # first-last pair
    ("Seen by Grace Parkinson.", [(K.NAME, "Grace Parkinson")]),
    # a name found once is found again elsewhere in the same note
    ("Seen by Dr. Ruiz. Ruiz agreed with the plan.", [(K.NAME, "Ruiz"), (K.NAME, "Ruiz")]),
    ("患者：张伟，男，45岁。", [(K.NAME, "张伟")]),
    ("王女士诉头痛三天。", [(K.NAME, "王")]),  # lone surname before a title
    ("患者欧阳娟因发热就诊。", [(K.NAME, "欧阳娟")]),  # compound surname
    ("患者家属赵敏陪同就诊。", [(K.NAME, "赵敏")]),
    ("护士：刘洋", [(K.NAME, "刘洋")]),
    ("Dr. Li Wei saw 患者李强。", [(K.NAME, "Li Wei"), (K.NAME, "李强")]),
]

NOT_NAMES = [
    "History of Parkinson disease.",
    "Diagnosed with Bell's palsy last year.",
    "History of Graves' disease.",
    "Child with Down syndrome.",
    "Will follow up in two weeks.",
    "May need follow-up.",
    "患者有高血压病史。",
    "患儿诊断唐氏综合征。",
]

DATES = [
    ("Admitted on 03/14/2023.", "03/14/2023"),
    ("Seen 2023-03-14 in clinic.", "2023-03-14"),
    ("Follow-up on March 14, 2023.", "March 14, 2023"),
    ("Admitted 14 March 2023 today.", "14 March 2023"),
    ("Seen on Mar. 14th for review.", "Mar. 14th"),
    ("DOB: 3-Jan-2017.", "3-Jan-2017"),
    ("Moved here in March 2023.", "March 2023"),
    ("Seen 14.03.2023 at the clinic.", "14.03.2023"),
    ("Follow-up 3/14/23.", "3/14/23"),
    ("Symptoms began in May.", "May"),
    ("Symptoms since early June.", "June"),
    ("Admitted on 3/14 for chest pain.", "3/14"),
    ("入院日期2023年3月14日。", "2023年3月14日"),
    ("3月14日复诊。", "3月14日"),
    ("2月起出现胸痛。", "2月"),
    ("出院：2023/03/18。", "2023/03/18"),
]

AGES = [
    ("A 92-year-old woman with fever.", [(K.AGE, "92")]),
    ("Patient is a 95 yo man.", [(K.AGE, "95")]),
    ("Mother died aged 97 last year.", [(K.AGE, "97")]),
    ("患者93岁，女性。", [(K.AGE, "93")]),
    ("Patient age 45 with cough.", []),  # 89 and below are not identifiers
    ("患者45岁。", []),
    ("An 89 y/o man.", []),
]

PATTERNED = [
    ("Call (617) 555-0123 ext. 45 tomorrow.", [(K.PHONE, "(617) 555-0123 ext. 45")]),
    ("Call 617-555-0123 x12 anytime.", [(K.PHONE, "617-555-0123 x12")]),
    ("联系电话+86 138-1234-5678。", [(K.PHONE, "+86 138-1234-5678")]),
    ("手机13812345678，", [(K.PHONE, "13812345678")]),
    ("科室电话010-12345678转123。", [(K.PHONE, "010-12345678转123")]),
    ("SSN 123-45-6789 on file.", [(K.SSN, "123-45-6789")]),
    (
        "See https://example.com/patient/123 for details.",
        [(K.URL, "https://example.com/patient/123")],
    ),
    ("详见 https://example.cn/report/88 。", [(K.URL, "https://example.cn/report/88")]),
    ("Login from 192.168.1.23 noted.", [(K.IP, "192.168.1.23")]),
    ("登录IP：192.168.1.23，时间不详。", [(K.IP, "192.168.1.23")]),
    ("Logged from 2001:db8:85a3::8a2e:370:7334 today.", [(K.IP, "2001:db8:85a3::8a2e:370:7334")]),
    ("E-mail: john.smith@mail.example.org", [(K.EMAIL, "john.smith@mail.example.org")]),
    ("邮箱zhangwei@example.com。", [(K.EMAIL, "zhangwei@example.com")]),
    ("身份证号码11010519491231002X已核实。", [(K.CN_RESIDENT_ID, "11010519491231002X")]),
    ("证件11010519491231002X核对。", [(K.CN_RESIDENT_ID, "11010519491231002X")]),
    ("证件110105194912310021核对。", []),  # same digits, wrong check digit, no label
]

LABELLED = [
    ("MRN: 00482913", K.MRN, "00482913"),
    ("病历号：A123456", K.MRN, "A123456"),
    ("Member ID: XJH48213901", K.HEALTH_PLAN, "XJH48213901"),
    ("Medicare number: 1EG4TE5MK73", K.HEALTH_PLAN, "1EG4TE5MK73"),
    ("医保卡号：1234567890", K.HEALTH_PLAN, "1234567890"),
    ("Account #: 4481-22901", K.ACCOUNT, "4481-22901"),
    ("Claim #: CLM-883201", K.ACCOUNT, "CLM-883201"),
    ("账号：6222021234567890", K.ACCOUNT, "6222021234567890"),
    ("Driver's license: D1234567", K.LICENSE, "D1234567"),
    ("执业证书编号：110310000012345", K.LICENSE, "110310000012345"),
    ("VIN: 1HGCM82633A004352", K.VEHICLE, "1HGCM82633A004352"),
    ("Plate: DHX 627", K.VEHICLE, "DHX 627"),
    ("车牌号：沪A12345", K.VEHICLE, "沪A12345"),
    ("车架号：LSVAU2180N2183194", K.VEHICLE, "LSVAU2180N2183194"),
    ("Serial number: PM-88213-A", K.DEVICE, "PM-88213-A"),
    ("Device serial: XR55-0091-KK", K.DEVICE, "XR55-0091-KK"),
    ("起搏器编号：PM-2023-0091", K.DEVICE, "PM-2023-0091"),
    ("Fingerprint ID: FP99812", K.BIOMETRIC, "FP99812"),
    ("声纹编号：SW-8812", K.BIOMETRIC, "SW-8812"),
    ("Study ID: ST-20931", K.ID, "ST-20931"),
    ("受试者编号：S-0012", K.ID, "S-0012"),
    ("工号：E00123", K.ID, "E00123"),
]

PLACES = [
    (
        "Lives at 123 Main Street, Springfield, IL 62701.",
        "123 Main Street, Springfield, IL 62701",
    ),
    ("He moved to Boston, MA 02115.", "Boston, MA 02115"),
    ("住址：北京市朝阳区建国路88号。", "北京市朝阳区建国路88号"),
    ("患者现住广东省广州市天河区天河路123号。", "广东省广州市天河区天河路123号"),
]

CLINICAL = [
    "metformin 500 mg BID",
    "Hb 13.2 g/dL",
    "BP 128/82 mmHg",
    "pain 7/10",
    "GCS 15/15",
    "INR 2.5",
    "SpO2 94%",
    "T 38.2 °C",
    "血压 130/85 mmHg",
    "空腹血糖 7.8 mmol/L",
    "Smoker since 2019 and quit in 2019.",  # a year alone is not an identifier
]


@pytest.mark.parametrize(("text", "expected"), NAMES)
def test_names_are_found_with_their_exact_span(find: Find, text: str, expected: Found) -> None:
    assert find(text) == expected


@pytest.mark.parametrize("text", NOT_NAMES)
def test_eponyms_modals_and_chinese_disease_words_are_not_names(find: Find, text: str) -> None:
    assert find(text) == []


@pytest.mark.parametrize(("text", "date"), DATES)
def test_dates_in_many_forms(find: Find, text: str, date: str) -> None:
    assert find(text) == [(K.DATE, date)]


@pytest.mark.parametrize(("text", "expected"), AGES)
def test_only_ages_over_89_are_identifiers(find: Find, text: str, expected: Found) -> None:
    assert find(text) == expected


@pytest.mark.parametrize(("text", "expected"), PATTERNED)
def test_patterned_identifiers(find: Find, text: str, expected: Found) -> None:
    assert find(text) == expected


@pytest.mark.parametrize(("text", "kind", "value"), LABELLED)
def test_labelled_values_take_the_kind_of_their_label(
    find: Find, text: str, kind: PhiKind, value: str
) -> None:
    assert find(text) == [(kind, value)]


@pytest.mark.parametrize(("text", "place"), PLACES)
def test_addresses(find: Find, text: str, place: str) -> None:
    assert find(text) == [(K.LOCATION, place)]


@pytest.mark.parametrize("text", CLINICAL)
def test_clinical_content_is_never_touched(find: Find, text: str) -> None:
    assert find(text) == []


def test_every_kind_is_covered_by_the_tables() -> None:
    kinds = {kind for _, rows in NAMES + AGES + PATTERNED for kind, _ in rows}
    kinds |= {kind for _, kind, _ in LABELLED} | {K.DATE, K.LOCATION}
    assert kinds == set(PhiKind)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("11010519491231002X", True),
        ("11010519491231002x", True),  # the check character may be written in lower case
        ("110105194912310021", False),  # wrong check digit
        ("1101051949123100", False),  # too short
        ("11010519491231002X1", False),  # too long
        ("A1010519491231002X", False),  # not digits
    ],
)
def test_resident_id_check_digit(number: str, valid: bool) -> None:
    assert resident_id_is_valid(number) is valid


def test_alternation_puts_longer_words_first() -> None:
    assert alternation(["Dr", "Dr.", "Doctor"]) == r"(?:Doctor|Dr\.|Dr)"
    assert alternation(("号", "号码", "号")) == "(?:号码|号)"


# ----------------------------------------------------------------- regressions
# Defects found in review, fixed: kept so they stay fixed.

REGRESSIONS = [
    pytest.param(
        "Zebulon Quaxley reports fever.", [(K.NAME, "Zebulon Quaxley")], id="unlisted-subject"
    ),
    pytest.param("Chest Pain was the main complaint.", [], id="clinical-subject"),
    pytest.param(
        "Dr. DeLuca and Dr. LeBlanc", [(K.NAME, "DeLuca"), (K.NAME, "LeBlanc")], id="camel"
    ),
    pytest.param("Seen by Dr. José Núñez", [(K.NAME, "José Núñez")], id="accents"),
    pytest.param("Dr. Łukasz Żółw", [(K.NAME, "Łukasz Żółw")], id="polish"),
    pytest.param("Patient: Doe, John.", [(K.NAME, "Doe, John")], id="last-comma-first"),
    pytest.param("Pt: Garcia, Maria", [(K.NAME, "Garcia, Maria")], id="pt-field"),
    pytest.param("Mother: Breast cancer. Father: Diabetes.", [], id="family-history-field"),
    pytest.param("Sister Lupus, brother asthma.", [], id="relation-then-disease"),
    pytest.param("Patient Denies chest pain. Contact Precautions.", [], id="clinical-after-cue"),
    pytest.param("Seen by Cardiology, discussed with Oncology.", [], id="services"),
    pytest.param("Taking vitamin D. Blood cultures sent.", [], id="initial-then-clinical"),
    pytest.param("Dose reduced by 1/2, after 2/3 doses.", [], id="fractions"),
    pytest.param("He is 120 lbs. Patient was 96 on room air.", [], id="weights-and-spo2"),
    pytest.param("Glucose 180 mg/dL 2019-2020.", [], id="unit-not-label"),
    pytest.param("Travelled to Mexico in 2019.", [], id="country-kept"),
    pytest.param("感染新Omicron变异株", [], id="not-a-plate"),
    pytest.param("在当地医院输液", [], id="local-hospital"),
    pytest.param("家属李女士签字。", [(K.NAME, "李")], id="title-not-swallowed"),
    pytest.param("SSN 123 45 6789", [(K.SSN, "123 45 6789")], id="ssn-with-spaces"),
    pytest.param("Please call 4155550199.", [(K.PHONE, "4155550199")], id="bare-phone-after-label"),
    pytest.param(
        "Grace Parkinson has a cough.",
        [(K.NAME, "Grace Parkinson")],
        id="first-last-pair-with-eponym-surname",
    ),
    pytest.param(
        "邮箱zhangwei@example.com已确认。",
        [(K.EMAIL, "zhangwei@example.com")],
        id="email-followed-by-han",
    ),
    pytest.param(
        "详见https://example.cn/report/88",
        [(K.URL, "https://example.cn/report/88")],
        id="url-preceded-by-han",
    ),
    pytest.param(
        "设备IPv6地址2001:db8::1，已记录。",
        [(K.IP, "2001:db8::1")],
        id="ipv6-preceded-by-han",
    ),
    pytest.param(
        "Connected from 192.168.1.23.",
        [(K.IP, "192.168.1.23")],
        id="ipv4-at-sentence-end",
    ),
    pytest.param(
        "From Boston, MA 02115.",
        [(K.LOCATION, "Boston, MA 02115")],
        id="city-state-takes-sentence-initial-word",
    ),
    pytest.param(
        "已发邮件，谢谢。",
        [],
        id="thanks-is-not-a-name",
    ),
    pytest.param(
        "患者银行卡丢失。",
        [],
        id="bank-card-is-not-a-name",
    ),
    pytest.param(
        "序列号：SN20230001",
        [(K.DEVICE, "SN20230001")],
        id="labelled-serial-shaped-like-dea",
    ),
    pytest.param(
        "IMEI: 490154203237518",
        [(K.DEVICE, "490154203237518")],
        id="labelled-imei-passes-luhn",
    ),
]


@pytest.mark.parametrize(("text", "expected"), REGRESSIONS)
def test_regressions(find: Find, text: str, expected: Found) -> None:
    assert find(text) == expected
