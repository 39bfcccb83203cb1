"""Date shifting keeps the form a date was written in and moves it by exactly n days."""

from __future__ import annotations

import pytest

from dxkit.deid.dates import shift_date_text

SHIFTS = [
    # (original, days, expected)
    ("2023-03-14", 30, "2023-04-13"),
    ("2023/3/14", -30, "2023/2/12"),
    ("03/14/2023", 10, "03/24/2023"),
    ("3/14/2023", 30, "4/13/2023"),
    ("03/14/23", 365, "03/13/24"),  # two-digit year stays two digits
    ("3/14/23", -30, "2/12/23"),
    ("25/12/2023", 1, "26/12/2023"),  # a first number over 12 reads as the day
    ("14.03.2023", 30, "13.04.2023"),  # dotted dates are day first
    ("14.3.23", 1, "15.3.23"),
    ("Mar. 14th", 30, "Apr. 13th"),
    ("Mar. 14th", -14, "Feb. 29th"),  # a year-less date is shifted within a leap year
    ("March 14", 1, "March 15"),
    ("MAR 14", 30, "APR 13"),
    ("Sept 3", 1, "Sept 4"),
    ("14 March 2023", -30, "12 February 2023"),
    ("Mar 14, 2023", 30, "Apr 13, 2023"),
    ("3-Jan-2017", -30, "4-Dec-2016"),
    ("March 2023", 30, "April 2023"),
    ("May", 30, "June"),
    ("May", -30, "April"),
    ("2023年3月14日", 30, "2023年4月13日"),
    ("2023年03月14日", 1, "2023年03月15日"),
    ("2024年2月29号", 1, "2024年3月1号"),
    ("2023年3月", -30, "2023年2月"),
    ("3月14日", 30, "4月13日"),
    ("3月份", 30, "4月份"),
    ("3月", 30, "4月"),
]


@pytest.mark.parametrize(("original", "days", "expected"), SHIFTS)
def test_shift_keeps_the_written_form(original: str, days: int, expected: str) -> None:
    assert shift_date_text(original, days) == expected


@pytest.mark.parametrize(
    ("original", "days", "expected"),
    [
        ("03/14", 30, "04/13"),  # padded: stays padded
        ("3/14", 30, "4/13"),  # unpadded: stays unpadded
        ("12/25", 30, "1/24"),  # no zero shown: none added
        ("25/12/2023", 30, "24/1/2024"),
        ("2023-03-31", 1, "2023-04-01"),
    ],
)
def test_zero_padding_only_when_the_original_had_it(
    original: str, days: int, expected: str
) -> None:
    assert shift_date_text(original, days) == expected


@pytest.mark.parametrize(
    ("original", "days", "expected"),
    [
        ("Dec 31, 2023", 1, "Jan 1, 2024"),  # year boundary
        ("Jan 1, 2024", -1, "Dec 31, 2023"),
        ("2024-02-28", 1, "2024-02-29"),  # leap day exists in 2024
        ("2023-02-28", 1, "2023-03-01"),  # and not in 2023
        ("2024年2月29号", 365, "2025年2月28号"),
        ("Feb 29", 1, "Mar 1"),
        ("4/30/2023", 1, "5/1/2023"),  # month boundary
        ("31.12.1999", 1, "1.1.2000"),  # century boundary
    ],
)
def test_month_year_and_leap_day_boundaries(original: str, days: int, expected: str) -> None:
    assert shift_date_text(original, days) == expected


@pytest.mark.parametrize(
    "text", ["hello", "", "2019", "13/13/2023", "2023-02-30", "the 1st of March", "32 March"]
)
def test_unreadable_text_gives_none(text: str) -> None:
    assert shift_date_text(text, 30) is None


ROUND_TRIP = [
    "2023-03-14",
    "2023/3/14",
    "03/14/2023",
    "3/14/23",
    "14.03.2023",
    "14 March 2023",
    "3-Jan-2017",
    "Mar 14, 2023",
    "Dec 31, 2023",
    "2023年3月14日",
    "2024年2月29号",
]


@pytest.mark.parametrize("original", ROUND_TRIP)
@pytest.mark.parametrize("days", [1, -1, 30, -30, 200, -365, 365])
def test_shifting_there_and_back_gives_the_original(original: str, days: int) -> None:
    moved = shift_date_text(original, days)
    assert moved is not None
    assert shift_date_text(moved, -days) == original


@pytest.mark.parametrize("original", ["Mar. 14th", "March 14", "3月14日", "03/14"])
@pytest.mark.parametrize("days", [1, -45, 100])
def test_year_less_dates_round_trip_within_a_year(original: str, days: int) -> None:
    moved = shift_date_text(original, days)
    assert moved is not None
    assert shift_date_text(moved, -days) == original


@pytest.mark.parametrize("original", ["May", "March 2023", "2023年3月", "3月份"])
@pytest.mark.parametrize("days", [1, -10, 10])
def test_month_only_dates_round_trip_for_short_shifts(original: str, days: int) -> None:
    # a month without a day is read as its 15th: shifts under half a month come back
    moved = shift_date_text(original, days)
    assert moved == original
    assert shift_date_text(original, 31) != original


def test_day_first_dates_stay_day_first() -> None:
    # the shifted date keeps the writer's order; read back alone, "12/7/2024" is
    # ambiguous, which is why shifting is done once, from the original text
    assert shift_date_text("25/12/2023", 200) == "12/7/2024"


def test_surrounding_whitespace_is_ignored() -> None:
    assert shift_date_text("  03/14/2023 ", 1) == "03/15/2023"


def test_iso_dates_stay_zero_padded() -> None:
    assert shift_date_text("2023-12-31", 1) == "2024-01-01"
