"""Surrogates: consistent per book, shaped like the original, revealing nothing of it."""

from __future__ import annotations

import ipaddress
import re

import pytest

from dxkit.deid.dates import shift_date_text
from dxkit.deid.recognizers_patterns import resident_id_is_valid
from dxkit.deid.resources import vocabulary
from dxkit.deid.surrogates import AGE_SURROGATE, SurrogateBook
from dxkit.deid.types import PhiKind

K = PhiKind
SEEDS = [0, 1, 7, 2024]


def _book(seed: int = 7, shift: int = 40) -> SurrogateBook:
    return SurrogateBook(seed=seed, date_shift_days=shift)


def _layout(text: str) -> str:
    """The text with every ASCII digit written as 9: what a phone surrogate must keep."""
    return re.sub(r"[0-9]", "9", text)


def test_same_input_gives_the_same_output() -> None:
    book = _book()
    for kind, value in [(K.NAME, "Maria Ruiz"), (K.MRN, "00482913"), (K.PHONE, "617-555-0123")]:
        assert book.replace(kind, value) == book.replace(kind, value)


def test_same_seed_gives_the_same_surrogates_in_another_book() -> None:
    values = [(K.NAME, "Maria Ruiz"), (K.MRN, "00482913"), (K.EMAIL, "a@b.org")]
    first, second = _book(seed=3), _book(seed=3)
    assert [first.replace(*v) for v in values] == [second.replace(*v) for v in values]
    other = _book(seed=4)
    assert [first.replace(*v) for v in values] != [other.replace(*v) for v in values]


@pytest.mark.parametrize("seed", SEEDS)
def test_different_people_get_different_surrogates(seed: int) -> None:
    book = _book(seed)
    names = ["Grace Parkinson", "Maria Ruiz", "John Smith", "Alan Chen"]
    assert len({book.replace(K.NAME, name) for name in names}) == len(names)
    numbers = ["00482913", "00482914", "77120045"]
    assert len({book.replace(K.MRN, number) for number in numbers}) == len(numbers)


@pytest.mark.parametrize("seed", SEEDS)
def test_names_are_mapped_part_by_part(seed: int) -> None:
    book = _book(seed)
    full = book.replace(K.NAME, "Grace Parkinson")
    first, last = full.split()
    assert book.replace(K.NAME, "Parkinson") == last  # "Mrs. Parkinson" keeps her surname
    assert book.replace(K.NAME, "Grace") == first
    assert book.replace(K.NAME, "PARKINSON, GRACE") == f"{last.upper()}, {first.upper()}"
    initial = book.replace(K.NAME, "J. Smith")
    assert re.fullmatch(r"[A-Z]\. [A-Z][a-z]+", initial)


@pytest.mark.parametrize("seed", SEEDS)
def test_chinese_names_keep_the_surname_mapping(seed: int) -> None:
    book = _book(seed)
    full = book.replace(K.NAME, "张伟")
    surname = book.replace(K.NAME, "张")
    assert full.startswith(surname) and len(full) == len(surname) + 1
    assert "张" not in full and "伟" not in full
    assert book.replace(K.NAME, "张敏").startswith(surname)


ORIGINALS = [
    (K.NAME, "Grace Parkinson"),
    (K.NAME, "欧阳娟"),
    (K.MRN, "00482913"),
    (K.HEALTH_PLAN, "XJH48213901"),
    (K.ACCOUNT, "6222021234567890"),
    (K.LICENSE, "D1234567"),
    (K.VEHICLE, "沪A12345"),
    (K.DEVICE, "PM-88213-A"),
    (K.ID, "ST-20931"),
    (K.EMAIL, "zhangwei@example.com"),
    (K.URL, "https://hospital.example.cn/p/123"),
    (K.PHONE, "617-555-0123"),
    (K.SSN, "123-45-6789"),
    (K.CN_RESIDENT_ID, "11010519491231002X"),
    (K.LOCATION, "123 Main Street, Springfield, IL 62701"),
    (K.LOCATION, "北京市朝阳区建国路88号"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("kind", "original"), ORIGINALS)
def test_the_surrogate_never_contains_the_original(seed: int, kind: PhiKind, original: str) -> None:
    surrogate = _book(seed).replace(kind, original)
    assert surrogate and surrogate != original
    assert original not in surrogate
    if kind is K.NAME:
        parts = original.split() if " " in original else [original[:2], original[2:]]
        assert not any(part in surrogate for part in parts)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "phone", ["617-555-0123", "(617) 555-0123", "+86 138-1234-5678", "010-12345678转123"]
)
def test_phones_keep_their_layout(seed: int, phone: str) -> None:
    surrogate = _book(seed).replace(K.PHONE, phone)
    assert len(surrogate) == len(phone)
    assert _layout(surrogate) == _layout(phone)
    assert surrogate != phone


def test_phones_keep_their_country_code() -> None:
    for seed in SEEDS:
        assert _book(seed).replace(K.PHONE, "+86 138-1234-5678").startswith("+86 ")
        assert _book(seed).replace(K.PHONE, "+1 617 555 0123").startswith("+1 ")


def test_mobile_numbers_after_a_country_code_stay_mobile_numbers() -> None:
    surrogates = [_book(seed).replace(K.PHONE, "+86 138-1234-5678") for seed in SEEDS]
    assert all(re.fullmatch(r"\+86 1[3-9]\d-\d{4}-\d{4}", s) for s in surrogates), surrogates


def test_phone_extension_marker_is_kept() -> None:
    phone = "(617) 555-0123 ext. 45"
    assert _layout(_book().replace(K.PHONE, phone)) == _layout(phone)


@pytest.mark.parametrize("seed", SEEDS)
def test_ip_addresses_become_documentation_addresses(seed: int) -> None:
    book = _book(seed)
    v4 = ipaddress.ip_address(book.replace(K.IP, "10.20.30.40"))
    v6 = ipaddress.ip_address(book.replace(K.IP, "2001:db8:85a3::8a2e:370:7334"))
    assert v4 in ipaddress.ip_network("192.0.2.0/24")
    assert v6 in ipaddress.ip_network("2001:db8::/32")


@pytest.mark.parametrize("seed", SEEDS)
def test_resident_id_surrogate_is_valid(seed: int) -> None:
    surrogate = _book(seed).replace(K.CN_RESIDENT_ID, "11010519491231002X")
    assert len(surrogate) == 18 and resident_id_is_valid(surrogate)
    assert surrogate != "11010519491231002X"


@pytest.mark.parametrize("seed", SEEDS)
def test_ssn_surrogate_is_in_the_never_issued_9xx_area(seed: int) -> None:
    surrogate = _book(seed).replace(K.SSN, "123-45-6789")
    assert re.fullmatch(r"9\d\d-\d\d-\d{4}", surrogate)


def test_ages_over_89_become_90_plus() -> None:
    book = _book()
    assert book.replace(K.AGE, "92") == AGE_SURROGATE == "90+"
    assert book.replace(K.AGE, "104") == "90+"


def test_dates_move_by_the_books_offset() -> None:
    book = _book(shift=40)
    assert book.replace(K.DATE, "03/14/2023") == "04/23/2023"
    assert book.replace(K.DATE, "2023年3月14日") == shift_date_text("2023年3月14日", 40)
    assert _book(shift=-10).replace(K.DATE, "03/14/2023") == "03/04/2023"


def test_an_unreadable_date_becomes_a_tag() -> None:
    assert _book().replace(K.DATE, "the ides of March") == "[DATE]"


def test_other_identifiers_keep_separators_and_letter_case() -> None:
    surrogate = _book().replace(K.DEVICE, "PM-88213-a")
    assert re.fullmatch(r"[A-Z]{2}-\d{5}-[a-z]", surrogate)


def test_email_and_url_surrogates_use_reserved_domains() -> None:
    book = _book()
    assert book.replace(K.EMAIL, "jane@hospital.org").endswith("@example.org")
    assert book.replace(K.URL, "https://portal.hospital.org/me").startswith("https://example.org/")


def test_chinese_address_keeps_its_skeleton() -> None:
    original = "北京市朝阳区建国路88号"
    surrogate = _book().replace(K.LOCATION, original)
    assert len(surrogate) == len(original)
    units = [i for i, char in enumerate(original) if char in "市区路号"]
    assert [surrogate[i] for i in units] == [original[i] for i in units]
    assert not any(char in surrogate for char in "北京朝阳建国")


def test_street_address_keeps_suffix_and_state() -> None:
    surrogate = _book().replace(K.LOCATION, "123 Main Street, Springfield, IL 62701")
    assert re.fullmatch(r"\d{3} [A-Z][a-z]+ Street, [A-Z][a-z]+, IL \d{5}", surrogate)
    assert "Main" not in surrogate and "Springfield" not in surrogate


def test_a_surrogate_never_equals_its_original() -> None:
    book = _book()
    surrogate = book.replace(K.NAME, "Maria Ruiz")
    assert book.replace(K.NAME, surrogate) != surrogate
    pool = vocabulary().last_names[:500]
    assert all(book.replace(K.NAME, name) != name for name in pool[:200])
