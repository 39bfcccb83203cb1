"""Invented values for the slots of the labelled-note templates, each with its role.

A slot's role says how the generator records it: a :class:`PhiKind` (a gold identifier
span), ``protected`` (clinical text the de-identifier must leave alone) or ``plain``.
Keeping the roles beside the value makers means the templates (data) cannot mislabel a
value: a template only says *where* an MRN goes, this module says that it is an MRN.

Values come from Faker (seeded per call) plus the lists in ``deid_note_templates.yaml``;
every value is invented.
"""

from __future__ import annotations

import ipaddress
import random
import string
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from faker import Faker

from dxkit.deid.types import PhiKind

Role = PhiKind | Literal["protected", "plain"]
Piece = tuple[str, Role]

_MONTHS = "January February March April May June July August September October November December"
MONTHS = tuple(_MONTHS.split())
# Latin letters that NFKD does not decompose; the rest of the accents are dropped.
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "đ": "d", "Đ": "D", "ø": "o", "æ": "ae"})


@dataclass
class NoteContext:
    """What one note's values share: its language, random sources and remembered names."""

    rng: random.Random
    fakers: Mapping[str, Faker]
    language: str
    data: Mapping[str, Any]  # the language's block of the YAML
    name_locales: tuple[str, ...]
    sex: str  # "female" | "male": keeps titles and names consistent
    sticky: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)  # list values already in this note

    @property
    def faker(self) -> Faker:
        """The Faker of the note's own language."""
        return self.fakers["zh_CN" if self.language == "zh" else "en_US"]

    def remember(self, key: str, make: Callable[[], str]) -> str:
        """The same value every time within a note (a patient keeps one name)."""
        if key not in self.sticky:
            self.sticky[key] = make()
        return self.sticky[key]

    def digits(self, n: int) -> str:
        """``n`` random decimal digits (leading zeros allowed, as in real record numbers)."""
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def letters(self, n: int, alphabet: str = string.ascii_uppercase) -> str:
        """``n`` random capital letters."""
        return "".join(self.rng.choice(alphabet) for _ in range(n))


def romanise(name: str) -> str:
    """Fold a Latin-script name to ASCII, as many US record systems store it."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_FOLD))
    return "".join(c for c in decomposed if c.isascii())


def _person(ctx: NoteContext, sex: str) -> tuple[str, str]:
    """A (first, last) name; in English notes often from a non-English locale."""
    if ctx.language == "zh":
        zh = ctx.faker
        surnames = ctx.data["compound_surnames"]
        last = ctx.rng.choice(surnames) if ctx.rng.random() < 0.1 else zh.last_name()
        first = zh.first_name_female() if sex == "female" else zh.first_name_male()
        return first, last
    fk = ctx.fakers[ctx.rng.choice(ctx.name_locales)]
    first = fk.first_name_female() if sex == "female" else fk.first_name_male()
    return romanise(first).split()[0], romanise(fk.last_name()).split()[0]


def _full(ctx: NoteContext, first: str, last: str) -> str:
    return f"{last}{first}" if ctx.language == "zh" else f"{first} {last}"


def _patient(ctx: NoteContext) -> tuple[str, str]:
    first = ctx.remember("patient_first", lambda: _person(ctx, ctx.sex)[0])
    last = ctx.remember("patient_last", lambda: _person(ctx, ctx.sex)[1])
    return first, last


def _clinician(ctx: NoteContext) -> tuple[str, str]:
    first = ctx.remember("clin_first", lambda: _person(ctx, ctx.rng.choice(["female", "male"]))[0])
    last = ctx.remember("clin_last", lambda: _person(ctx, "male")[1])
    return first, last


def _any_person(ctx: NoteContext) -> tuple[str, str]:
    return _person(ctx, ctx.rng.choice(["female", "male"]))


def _date(ctx: NoteContext) -> date:
    return date(2015, 1, 1) + timedelta(days=ctx.rng.randrange(0, 365 * 10))


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def format_date(d: date, style: int, language: str) -> str:
    """One of many written forms of a date; ``style`` picks it (taken modulo the count)."""
    m, y, mon = d.month, d.year, MONTHS[d.month - 1]
    if language == "zh":
        zh = [f"{y}年{m}月{d.day}日", f"{m}月{d.day}日", f"{y}/{m}/{d.day}", d.isoformat()]
        zh += [f"{y}.{m:02}.{d.day:02}", f"{y}年{m:02}月{d.day:02}日"]
        return zh[style % len(zh)]
    en = [d.isoformat(), f"{m:02}/{d.day:02}/{y}", f"{m}/{d.day}/{y % 100:02}"]
    en += [f"{d.day:02}.{m:02}.{y}", f"{mon} {d.day}, {y}", f"{d.day} {mon[:3]} {y}"]
    en += [f"{mon[:3]}. {_ordinal(d.day)}", f"{m}/{d.day}", f"{d.day}-{mon[:3]}-{y}"]
    en += [f"{mon} {y}", f"{m}/{d.day}/{y}"]
    return en[style % len(en)]


def _phone(ctx: NoteContext) -> str:
    r, n = ctx.rng, ctx.digits
    if ctx.language == "zh":
        mobile = f"1{r.choice('3456789')}{n(9)}"
        area = r.choice(["010", "021", "020", "0755", "028", "0731"])
        forms = [mobile, f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"+86-{mobile}"]
        forms += [f"(+86){mobile}", f"{area}-{n(8)}", f"{area}-{n(8)}转{n(3)}"]
        return r.choice(forms)
    a, b, c = f"{r.randint(2, 9)}{n(2)}", f"{r.randint(2, 9)}{n(2)}", n(4)
    forms = [f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}"]
    forms += [
        f"+1-{a}-{b}-{c}",
        f"1-800-{b}-{c}",
        f"{a}-{b}-{c} ext. {n(3)}",
        f"({a}) {b}-{c} x{n(2)}",
    ]
    return r.choice(forms)


def _dea(ctx: NoteContext) -> str:
    """A DEA registration number whose check digit is right (as real ones are)."""
    d = [ctx.rng.randrange(10) for _ in range(6)]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return ctx.rng.choice("ABFGMPR") + ctx.letters(1) + "".join(map(str, d)) + str(check)


def _zh_address(ctx: NoteContext) -> str:
    r, data = ctx.rng, ctx.data
    head = f"{ctx.faker.province()}" if r.random() < 0.4 else ""
    city = f"{ctx.faker.city_name()}市{r.choice(data['districts'])}"
    street = f"{ctx.faker.street_name()}{r.randint(1, 999)}号"
    home = f"{r.choice(data['communities'])}小区{r.randint(1, 30)}栋{r.randint(1, 6)}单元"
    return f"{head}{city}{street}{home}{r.randint(1, 30)}0{r.randint(1, 4)}室"


def _hospital(ctx: NoteContext) -> str:
    city = ctx.faker.city_name() if ctx.language == "zh" else ctx.faker.city()
    first, last = _any_person(ctx)
    return str(
        ctx.rng.choice(ctx.data["hospital_patterns"]).format(city=city, first=first, last=last)
    )


def _plate(ctx: NoteContext) -> str:
    if ctx.language == "zh":
        prefix = ctx.rng.choice(ctx.data["plate_prefixes"])
        return f"{prefix}{ctx.letters(1)}{ctx.letters(1, 'ABCDEFGHJK0123456789')}{ctx.digits(4)}"
    return str(ctx.fakers["en_US"].license_plate())


def _ipv6(ctx: NoteContext) -> str:
    full = ctx.fakers["en_US"].ipv6()
    return str(ipaddress.IPv6Address(full)) if ctx.rng.random() < 0.5 else str(full)


def patient_age(ctx: NoteContext) -> list[Piece]:
    """The patient's age: identifying (digits labelled) over 89, protected text otherwise."""
    old = ctx.remember("old", lambda: "1" if ctx.rng.random() < 0.35 else "")
    age = int(
        ctx.remember(
            "age", lambda: str(ctx.rng.randint(90, 104) if old else ctx.rng.randint(18, 89))
        )
    )
    if ctx.language == "zh":
        return [(str(age), PhiKind.AGE), ("岁", "plain")] if old else [(f"{age}岁", "protected")]
    if not old:
        return [(ctx.rng.choice([f"age {age}", f"{age}-year-old", f"aged {age}"]), "protected")]
    tail = ctx.rng.choice(["-year-old", " y/o", " yo", " year old"])
    lead = ctx.rng.choice(["", "aged "]) if tail == " year old" else ""
    return [(lead, "plain"), (str(age), PhiKind.AGE), (tail, "plain")]


def _pick(key: str) -> Callable[[NoteContext], str]:
    """A value from the YAML list ``key``, not repeated within a note while any is left."""

    def pick(ctx: NoteContext) -> str:
        values = [str(v) for v in ctx.data[key]]
        fresh = [v for v in values if v not in ctx.used] or values
        value = ctx.rng.choice(fresh)
        ctx.used.add(value)
        return value

    return pick


SLOTS: dict[str, tuple[Role, Callable[[NoteContext], str]]] = {
    "patient_first": (PhiKind.NAME, lambda c: _patient(c)[0]),
    "patient_last": (PhiKind.NAME, lambda c: _patient(c)[1]),
    "patient_name": (PhiKind.NAME, lambda c: _full(c, *_patient(c))),
    "clin_last": (PhiKind.NAME, lambda c: _clinician(c)[1]),
    "clin_name": (PhiKind.NAME, lambda c: _full(c, *_clinician(c))),
    "clin_sig": (PhiKind.NAME, lambda c: f"{_clinician(c)[0][0]}. {_clinician(c)[1]}"),
    "nurse_name": (PhiKind.NAME, lambda c: _full(c, *_any_person(c))),
    "rel_name": (PhiKind.NAME, lambda c: _full(c, *_any_person(c))),
    "rel_first": (PhiKind.NAME, lambda c: _person(c, "male")[0]),
    "rel_last": (PhiKind.NAME, lambda c: _any_person(c)[1]),
    "hospital": (PhiKind.LOCATION, _hospital),
    "street": (PhiKind.LOCATION, lambda c: str(c.fakers["en_US"].street_address())),
    "city": (PhiKind.LOCATION, lambda c: str(c.fakers["en_US"].city())),
    "zip": (PhiKind.LOCATION, lambda c: str(c.fakers["en_US"].zipcode())),
    "zh_address": (PhiKind.LOCATION, _zh_address),
    "date": (PhiKind.DATE, lambda c: format_date(_date(c), c.rng.randrange(60), c.language)),
    "month": (
        PhiKind.DATE,
        lambda c: f"{c.rng.randint(1, 12)}月" if c.language == "zh" else c.rng.choice(MONTHS),
    ),
    "old_age": (PhiKind.AGE, lambda c: str(c.rng.randint(90, 104))),
    "phone": (PhiKind.PHONE, _phone),
    "email": (PhiKind.EMAIL, lambda c: str(c.faker.email())),
    "ssn": (
        PhiKind.SSN,
        lambda c: c.rng.choice([f"{c.digits(3)}-{c.digits(2)}-{c.digits(4)}", c.digits(9)]),
    ),
    "mrn": (
        PhiKind.MRN,
        lambda c: c.rng.choice([c.digits(8), c.digits(7), "H" + c.digits(7), "ZY" + c.digits(10)]),
    ),
    "member_id": (
        PhiKind.HEALTH_PLAN,
        lambda c: c.rng.choice([c.letters(3) + c.digits(9), "W" + c.digits(9)]),
    ),
    "account": (
        PhiKind.ACCOUNT,
        lambda c: c.rng.choice(
            [c.digits(10), f"{c.digits(4)}-{c.digits(4)}-{c.digits(2)}", "62" + c.digits(17)]
        ),
    ),
    "drivers_license": (
        PhiKind.LICENSE,
        lambda c: f"{c.letters(1)}{c.digits(3)}-{c.digits(4)}-{c.digits(4)}",
    ),
    "med_license": (
        PhiKind.LICENSE,
        lambda c: c.rng.choice([c.letters(1) + c.digits(6), "1101" + c.digits(11)]),
    ),
    "dea": (PhiKind.LICENSE, _dea),
    "vin": (PhiKind.VEHICLE, lambda c: str(c.fakers["en_US"].vin())),
    "plate": (PhiKind.VEHICLE, _plate),
    "pacemaker_sn": (PhiKind.DEVICE, lambda c: f"PJN{c.digits(6)}H"),
    "pump_sn": (
        PhiKind.DEVICE,
        lambda c: c.rng.choice([f"NG{c.digits(7)}", f"{c.digits(2)}-{c.digits(4)}-{c.digits(2)}"]),
    ),
    "url": (PhiKind.URL, lambda c: f"{c.fakers['en_US'].url()}patient/{c.digits(6)}"),
    "ipv4": (PhiKind.IP, lambda c: str(c.fakers["en_US"].ipv4())),
    "ipv6": (PhiKind.IP, _ipv6),
    "fingerprint_id": (PhiKind.BIOMETRIC, lambda c: f"FP-{c.digits(5)}"),
    "voiceprint_id": (PhiKind.BIOMETRIC, lambda c: f"VP-{c.digits(4)}-{c.letters(1)}"),
    "study_id": (PhiKind.ID, lambda c: f"STU-{c.rng.randint(2015, 2024)}-{c.digits(4)}"),
    "subject_no": (PhiKind.ID, lambda c: f"{c.digits(3)}-{c.digits(4)}"),
    "cn_id": (PhiKind.CN_RESIDENT_ID, lambda c: str(c.fakers["zh_CN"].ssn())),
    "title": ("plain", lambda c: _title(c)),
    "sex_word": ("plain", lambda c: _sex_word(c)),
    "state": ("plain", lambda c: str(c.fakers["en_US"].state_abbr())),
    "year": ("plain", lambda c: str(c.rng.randint(1995, 2022))),
    "complaint": ("plain", _pick("complaints")),
    "diagnosis": ("plain", _pick("diagnoses")),
    "eponym": ("plain", _pick("eponyms")),
    "dose": ("plain", _pick("doses")),
    "lab": ("plain", _pick("labs")),
    "vital": ("plain", _pick("vitals")),
    "score": ("plain", _pick("scores")),
}


def _title(ctx: NoteContext) -> str:
    if ctx.language == "zh":
        return "女士" if ctx.sex == "female" else "先生"
    return ctx.remember(
        "title",
        lambda: (
            ctx.rng.choice(["Ms", "Mrs", "Ms."])
            if ctx.sex == "female"
            else ctx.rng.choice(["Mr", "Mr."])
        ),
    )


def _sex_word(ctx: NoteContext) -> str:
    if ctx.language == "zh":
        return "女" if ctx.sex == "female" else "男"
    return ctx.rng.choice(["woman", "female", "F"] if ctx.sex == "female" else ["man", "male", "M"])
