"""How well a de-identifier finds identifiers, and how well it leaves clinical text alone.

Two levels, because they answer different questions:

* **entity level** asks "was this identifier fully hidden?". A gold identifier counts as
  found only when predicted spans (of any kind) cover all of its non-space characters;
  hiding "John" of "John Smith" still leaks the surname. A predicted span is correct when
  it overlaps any gold identifier. *Typed* recall also asks for the right kind, which
  matters for surrogate replacement but not for privacy.
* **token level** gives partial credit: tokens are runs of letters/digits in Latin text
  and single CJK characters in Chinese, so a half-hidden name scores one of two tokens.

Per-kind recall is grouped by the gold kind and per-kind precision by the predicted kind.
The *protected* score is the fraction of protected clinical segments (doses, vitals,
eponym diseases) that any predicted span touches: a de-identifier that scrubs
"Parkinson disease" or "BP 128/82" destroys the note for diagnosis, so this must be ~0.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dxkit.deid.synthetic import LabelledNote
from dxkit.deid.types import PhiKind, PhiSpan
from dxkit.errors import InputError

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
COLUMNS = (
    "kind",
    "gold",
    "pred",
    "ent_P",
    "ent_R",
    "ent_F1",
    "typed_R",
    "tok_P",
    "tok_R",
    "tok_F1",
)
ALL = "ALL"


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class Counts:
    """Counts behind precision and recall; they add up across notes and kinds.

    Precision is ``correct / predicted`` and recall ``found / gold``: kept apart because at
    entity level a correct prediction (overlap) and a found identifier (full cover) differ.
    """

    predicted: int = 0
    correct: int = 0
    gold: int = 0
    found: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.predicted + other.predicted,
            self.correct + other.correct,
            self.gold + other.gold,
            self.found + other.found,
        )

    @property
    def precision(self) -> float | None:
        """``None`` when nothing was predicted: undefined, not zero."""
        return _ratio(self.correct, self.predicted)

    @property
    def recall(self) -> float | None:
        """``None`` when there is nothing to find."""
        return _ratio(self.found, self.gold)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall; 0 when either is undefined or both are 0."""
        p, r = self.precision, self.recall
        return 0.0 if p is None or r is None or p + r == 0 else 2 * p * r / (p + r)


@dataclass(frozen=True)
class KindScores:
    """Scores of one kind (or of all kinds together, ``kind == "ALL"``)."""

    kind: str
    entity: Counts
    typed_found: int
    token: Counts

    @property
    def typed_recall(self) -> float | None:
        """Share of gold identifiers covered by predicted spans of the same kind."""
        return _ratio(self.typed_found, self.entity.gold)

    def values(self) -> dict[str, Any]:
        """The row as numbers (``None`` where undefined), keyed by :data:`COLUMNS`."""
        e, t = self.entity, self.token
        numbers = (e.precision, e.recall, e.f1, self.typed_recall, t.precision, t.recall, t.f1)
        return dict(zip(COLUMNS, (self.kind, e.gold, e.predicted, *numbers), strict=True))


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class DeidScores:
    """Entity- and token-level scores per kind and overall, plus protected-text damage."""

    per_kind: tuple[KindScores, ...]
    micro: KindScores
    protected_total: int
    protected_touched: int
    notes: int

    @property
    def support(self) -> dict[str, int]:
        """Gold identifiers per kind (and ``ALL``): how much each number rests on."""
        return {s.kind: s.entity.gold for s in (*self.per_kind, self.micro)}

    @property
    def protected_touch_rate(self) -> float | None:
        """Share of protected clinical segments that some predicted span overlaps."""
        return _ratio(self.protected_touched, self.protected_total)

    def kind(self, kind: PhiKind | str) -> KindScores:
        """The scores of one kind, or of ``"ALL"``."""
        key = str(kind)
        return next(s for s in (*self.per_kind, self.micro) if s.kind == key)

    def rows(self, *, include_empty: bool = False) -> list[tuple[str, ...]]:
        """Printable rows (``-`` where undefined), per kind then ``ALL``; see :data:`COLUMNS`.

        Kinds with neither gold nor predicted spans are left out unless ``include_empty``.
        """
        chosen = [s for s in self.per_kind if include_empty or s.entity.gold or s.entity.predicted]
        return [tuple(_cell(v) for v in s.values().values()) for s in (*chosen, self.micro)]

    def table(self) -> str:
        """A plain-text table of :meth:`rows` with the protected-text line under it."""
        lines = [COLUMNS, *self.rows()]
        widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
        text = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
        touched = f"{self.protected_touched}/{self.protected_total}"
        text.append(f"protected segments touched: {touched} ({_cell(self.protected_touch_rate)})")
        return "\n".join(text)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (``null`` where undefined)."""
        return {
            "notes": self.notes,
            "micro": self.micro.values(),
            "per_kind": {s.kind: s.values() for s in self.per_kind},
            "protected": {
                "total": self.protected_total,
                "touched": self.protected_touched,
                "rate": self.protected_touch_rate,
            },
        }


def _mask(length: int, spans: Sequence[PhiSpan]) -> list[bool]:
    covered = [False] * length
    for span in spans:
        covered[span.start : span.end] = [True] * (span.end - span.start)
    return covered


def _covered(text: str, mask: list[bool], start: int, end: int) -> bool:
    return all(mask[i] for i in range(start, end) if not text[i].isspace())


def _check(note_index: int, text: str, spans: Sequence[PhiSpan]) -> None:
    for span in spans:
        if span.end > len(text):
            raise InputError(
                "predicted span",
                expected=f"spans inside note {note_index} ({len(text)} characters)",
                found=f"a {span.kind.value} span ending at character {span.end}",
                fix="predict spans on the same note text that is being scored",
            )


class _Tally:
    """Mutable per-kind counters while scoring; frozen into :class:`KindScores` at the end."""

    def __init__(self) -> None:
        keys = ("e_pred", "e_correct", "e_gold", "e_found", "typed", "t_pred", "t_correct")
        self.n: dict[PhiKind, dict[str, int]] = {
            k: dict.fromkeys((*keys, "t_gold", "t_found"), 0) for k in PhiKind
        }

    def add_entities(self, text: str, gold: Sequence[PhiSpan], pred: Sequence[PhiSpan]) -> None:
        any_mask = _mask(len(text), pred)
        kind_masks = {k: _mask(len(text), [p for p in pred if p.kind is k]) for k in PhiKind}
        for g in gold:
            row = self.n[g.kind]
            row["e_gold"] += 1
            row["e_found"] += _covered(text, any_mask, g.start, g.end)
            row["typed"] += _covered(text, kind_masks[g.kind], g.start, g.end)
        for p in pred:
            self.n[p.kind]["e_pred"] += 1
            self.n[p.kind]["e_correct"] += any(p.overlaps(g) for g in gold)

    def add_tokens(self, text: str, gold: Sequence[PhiSpan], pred: Sequence[PhiSpan]) -> None:
        any_mask = _mask(len(text), pred)
        for match in TOKEN.finditer(text):
            token = PhiSpan(match.start(), match.end(), PhiKind.ID)
            gold_kind = next((g.kind for g in gold if g.overlaps(token)), None)
            hits = [p for p in pred if p.overlaps(token)]
            if gold_kind is not None:
                self.n[gold_kind]["t_gold"] += 1
                self.n[gold_kind]["t_found"] += _covered(text, any_mask, *match.span())
            if hits and _covered(text, any_mask, *match.span()):
                best = max(hits, key=lambda p: (p.score, -p.start))
                self.n[best.kind]["t_pred"] += 1
                self.n[best.kind]["t_correct"] += gold_kind is not None

    def scores(self, kind: PhiKind) -> KindScores:
        n = self.n[kind]
        entity = Counts(n["e_pred"], n["e_correct"], n["e_gold"], n["e_found"])
        token = Counts(n["t_pred"], n["t_correct"], n["t_gold"], n["t_found"])
        return KindScores(kind.value, entity, n["typed"], token)


def evaluate_spans(
    gold: Sequence[LabelledNote], predicted: Sequence[Sequence[PhiSpan]]
) -> DeidScores:
    """Score predicted identifier spans against labelled notes.

    Args:
        gold: The labelled notes (text, gold spans, protected segments).
        predicted: For each note, in the same order, the spans a detector returned.

    Returns:
        Per-kind and overall scores at entity and token level, and protected-text damage.

    Raises:
        InputError: The two sequences differ in length or a span lies outside its note.

    >>> note = LabelledNote("Seen by John Smith.", (PhiSpan(8, 18, PhiKind.NAME),), "en")
    >>> scores = evaluate_spans([note], [[PhiSpan(8, 12, PhiKind.NAME)]])
    >>> scores.micro.entity.recall, scores.micro.entity.precision, scores.micro.token.recall
    (0.0, 1.0, 0.5)
    """
    if len(gold) != len(predicted):
        raise InputError(
            "predictions",
            expected=f"one list of spans per labelled note ({len(gold)})",
            found=f"{len(predicted)} lists",
            fix="run the detector on every note, in order, and pass all of its outputs",
        )
    tally = _Tally()
    touched = total = 0
    for index, (note, spans) in enumerate(zip(gold, predicted, strict=True)):
        _check(index, note.text, spans)
        tally.add_entities(note.text, note.spans, spans)
        tally.add_tokens(note.text, note.spans, spans)
        for start, end in note.protected:
            total += 1
            touched += any(s.start < end and start < s.end for s in spans)
    per_kind = tuple(tally.scores(kind) for kind in PhiKind)
    entity = sum((s.entity for s in per_kind), Counts())
    token = sum((s.token for s in per_kind), Counts())
    typed = sum(s.typed_found for s in per_kind)
    micro = KindScores(ALL, entity, typed, token)
    return DeidScores(per_kind, micro, total, touched, len(gold))


def score_detector(
    detect: Callable[[str], Sequence[PhiSpan]], notes: Sequence[LabelledNote]
) -> DeidScores:
    """Run ``detect`` on every note's text and score it with :func:`evaluate_spans`."""
    return evaluate_spans(notes, [list(detect(note.text)) for note in notes])
