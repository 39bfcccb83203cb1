"""Patient-disjoint, stratified splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from dxkit.cases.io import load_labeled
from dxkit.cases.schema import Case, LabeledCase
from dxkit.errors import InputError
from dxkit.train.splits import group_of, stratified_group_kfold, train_val_test_split


def _data() -> list[LabeledCase]:
    """120 patients over 3 labels (60/40/20), two visits each, plus one singleton label."""
    out = []
    for p in range(120):
        label = "A" if p < 60 else "B" if p < 100 else "C"
        for visit in range(2):
            case = Case(case_id=f"p{p}-v{visit}", patient_id=f"p{p}")
            out.append(LabeledCase(case=case, label=label))
    out.append(LabeledCase(case=Case(case_id="lonely"), label="Rare"))
    return out


def _patients(part: list[LabeledCase]) -> set[str]:
    return {group_of(lc) for lc in part}


def _shares(part: list[LabeledCase]) -> dict[str, float]:
    counts = Counter(lc.label for lc in part)
    return {label: n / len(part) for label, n in counts.items()}


def test_split_is_patient_disjoint_and_stratified() -> None:
    data = _data()
    split = train_val_test_split(data, val=0.1, test=0.2, seed=3)
    train, val, test = _patients(split.train), _patients(split.val), _patients(split.test)
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(split.train) + len(split.val) + len(split.test) == len(data)
    assert len(test) == pytest.approx(24, abs=3) and len(val) == pytest.approx(12, abs=3)
    overall = _shares(data)
    for part in (split.train, split.test):
        for label in "ABC":
            assert _shares(part)[label] == pytest.approx(overall[label], abs=0.06)
    assert any(lc.label == "Rare" for lc in split.train)  # a single patient stays in train


def test_split_is_seeded() -> None:
    ids = lambda s: [lc.case.case_id for lc in s.test]  # noqa: E731
    assert ids(train_val_test_split(_data(), seed=1)) == ids(train_val_test_split(_data(), seed=1))
    assert ids(train_val_test_split(_data(), seed=1)) != ids(train_val_test_split(_data(), seed=2))


def test_split_rejects_bad_fractions() -> None:
    with pytest.raises(InputError, match=r"val \+ test < 1; found val=0.5, test=0.5"):
        train_val_test_split(_data(), val=0.5, test=0.5)


def test_kfold_patient_disjoint_and_covering() -> None:
    data = _data()
    folds = stratified_group_kfold(data, k=4, seed=0)
    assert len(folds) == 4
    tested: list[int] = []
    for train_idx, test_idx in folds:
        assert not _patients([data[i] for i in train_idx]) & _patients([data[i] for i in test_idx])
        assert set(train_idx) | set(test_idx) == set(range(len(data)))
        shares = _shares([data[i] for i in test_idx])
        assert shares["A"] == pytest.approx(0.5, abs=0.08)
        tested += test_idx
    assert sorted(tested) == list(range(len(data)))
    with pytest.raises(InputError, match=r"k=500"):
        stratified_group_kfold(data, k=500)


def test_real_ddxplus_split(shared_data: Path) -> None:
    data = load_labeled(shared_data / "ddxplus" / "patients_dev.csv", "ddxplus")
    split = train_val_test_split(data)
    assert not _patients(split.train) & _patients(split.test)
    assert len(split.test) / len(data) == pytest.approx(0.2, abs=0.03)
    assert {"Ebola", "Bronchiolitis"} <= {lc.label for lc in split.train}
