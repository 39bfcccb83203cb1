"""Shift a date written in a note by a number of days, keeping the way it was written.

Surrogate de-identification moves every date of a patient by one offset, so intervals
("admitted 3/14, discharged 3/18") survive while the calendar dates do not. Each form
the detector finds is parsed here into its parts; the new date is written back into the
same parts, so "Mar. 14th" stays an abbreviated month with an ordinal, "03/14/23" keeps
its zero padding and two-digit year, "2023年3月14日" stays Chinese. A form this module
cannot read is left for the caller to replace with a tag.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from functools import cache

from dxkit.deid.resources import alternation, vocabulary

# A date written without a year is shifted within this leap year, so 29 February works.
_REFERENCE_YEAR = 2000
_MONTH_NUMBER = {name.lower(): index for index, name in enumerate(calendar.month_name) if name}
_MONTH_NUMBER.update(
    {name.lower(): index for index, name in enumerate(calendar.month_abbr) if name}
)
_MONTH_NUMBER["sept"] = 9


@cache
def _forms() -> list[re.Pattern[str]]:
    words = vocabulary()
    month = alternation([*words.months_full, *words.months_abbrev])
    mon = rf"(?P<mon>(?i:{month}))"
    day = r"(?P<d>\d{1,2})"
    year = r"(?P<y>\d{4}|\d{2})"
    forms = [
        r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})",
        r"(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)" + year,
        r"(?P<m>\d{1,2})/(?P<d>\d{1,2})",
        rf"{mon}\.?\s+{day}(?P<ord>st|nd|rd|th)?(?:,?\s+(?P<y>\d{{4}}))?",
        rf"{day}(?P<ord>st|nd|rd|th)?\s+(?:of\s+)?{mon}\.?(?:,?\s+(?P<y>\d{{4}}))?",
        rf"{day}[-/ ]{mon}[-/ ]{year}",
        rf"{mon}\.?,?\s+(?P<y>\d{{4}})",
        mon,
        r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月(?:\s*(?P<d>\d{1,2})\s*[日号])?",
        r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]",
        r"(?P<m>\d{1,2})\s*月(?:份)?",
    ]
    return [re.compile(form) for form in forms]


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _like(value: int, padded: bool) -> str:
    return f"{value:02d}" if padded else str(value)


def _month_like(old: str, month: int) -> str:
    full = old.lower() in {name.lower() for name in calendar.month_name if name}
    name = calendar.month_name[month] if full else calendar.month_abbr[month]
    if old.lower() == "sept" and month == 9:
        name = "Sept"
    return name.upper() if old.isupper() and len(old) > 1 else name


def _year_like(old: str, year: int) -> str:
    return f"{year % 100:02d}" if len(old) == 2 else f"{year:04d}"


def _parts(match: re.Match[str]) -> tuple[int, int, int | None] | None:
    """(year, month, day or None) read from one matched form; a missing year is the
    reference leap year, so the shift works and the year is simply not written back."""
    groups = match.groupdict()
    if groups.get("a") is not None:
        first, second = int(groups["a"]), int(groups["b"])
        european = groups["sep"] == "." or first > 12
        groups = {**groups, "d": str(first if european else second)}
        groups["m"] = str(second if european else first)
    month = _MONTH_NUMBER[groups["mon"].lower()] if groups.get("mon") else int(groups["m"])
    has_year = groups.get("y") is not None
    year = int(groups["y"]) if has_year else _REFERENCE_YEAR
    if has_year and year < 100:
        year += 2000 if year < 50 else 1900
    day = int(groups["d"]) if groups.get("d") else None
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    return year, month, day


def parse_date_text(text: str) -> date | None:
    """The calendar date a detected date names, when it carries day, month and year.

    >>> parse_date_text("Mar. 14th, 2023"), parse_date_text("Mar. 14th")
    (datetime.date(2023, 3, 14), None)
    """
    for form in _forms():
        match = form.fullmatch(text.strip())
        if match is None:
            continue
        parts = _parts(match)
        if parts is None or parts[2] is None or match.groupdict().get("y") is None:
            return None
        try:
            return date(parts[0], parts[1], parts[2])
        except ValueError:
            return None
    return None


def shift_date_text(text: str, days: int) -> str | None:
    """``text`` (one detected date) moved by ``days``, written the same way; None if unread.

    >>> shift_date_text("03/14/2023", 10)
    '03/24/2023'
    >>> shift_date_text("Mar. 14th", -14)
    'Feb. 29th'
    >>> shift_date_text("2023年3月14日", 30)
    '2023年4月13日'
    """
    for form in _forms():
        match = form.fullmatch(text.strip())
        if match is None:
            continue
        parts = _parts(match)
        if parts is None:
            return None
        year, month, day = parts
        try:
            original = date(year, month, day or 15)
        except ValueError:
            return None
        moved = original + timedelta(days=days)
        return _rewrite(text.strip(), match, moved, day is not None)
    return None


def _rewrite(text: str, match: re.Match[str], moved: date, has_day: bool) -> str:
    """Write ``moved`` into the groups of ``match``, right to left so offsets hold."""
    groups = match.groupdict()
    european = groups.get("a") is not None and (groups["sep"] == "." or int(groups["a"]) > 12)
    numbers = [groups[name] for name in ("m", "d", "a", "b") if groups.get(name)]
    # Zero padding is the writer's style when shown ("03/14"), and the rule of the
    # ISO form ("2023-12-31" + 1 day is "2024-01-01"); "12/25" and "2023/3/14" are not.
    year_first = groups.get("y") is not None and match.start("y") == 0 and "m" in groups
    padded = any(number.startswith("0") for number in numbers) or (
        year_first and groups.get("sep") == "-"
    )
    values: dict[str, str] = {}
    for name, old in groups.items():
        if old is None or name == "sep":
            continue
        if name == "y":
            values[name] = _year_like(old, moved.year)
        elif name == "mon":
            values[name] = _month_like(old, moved.month)
        elif name in {"m", "a" if not european else "b"}:
            values[name] = _like(moved.month, padded)
        elif name in {"d", "b" if not european else "a"} and has_day:
            values[name] = _like(moved.day, padded)
        elif name == "ord" and has_day:
            values[name] = _ordinal(moved.day)
    pieces = sorted(((match.span(name), value) for name, value in values.items()), reverse=True)
    for (start, end), value in pieces:
        text = text[:start] + value + text[end:]
    return text
