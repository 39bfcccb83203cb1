"""Patient-disjoint, label-stratified splits for training, validation and testing.

Two cases of one patient on both sides of a split let a model recognise the patient rather
than the disease, so every split here groups by ``patient_id`` (falling back to
``case_id``). Within that constraint, label proportions are kept as even as possible so
small classes are represented in validation and test.
"""

from __future__ import annotations

import random
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from dxkit.cases.schema import LabeledCase
from dxkit.errors import InputError


@dataclass(frozen=True)
class Split:
    """Three disjoint parts of a labeled data set."""

    train: list[LabeledCase]
    val: list[LabeledCase]
    test: list[LabeledCase]


def group_of(lc: LabeledCase) -> str:
    """The grouping key: the patient, or the case itself when no patient id is given."""
    return lc.case.patient_id or lc.case.case_id


def _groups(labeled: Sequence[LabeledCase]) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Indices per group, and each group's majority label (ties: first seen)."""
    members: dict[str, list[int]] = defaultdict(list)
    for index, lc in enumerate(labeled):
        members[group_of(lc)].append(index)
    label_of = {
        group: Counter(labeled[i].label for i in idx).most_common(1)[0][0]
        for group, idx in members.items()
    }
    return dict(members), label_of


def _check_fractions(val: float, test: float) -> None:
    if val < 0 or test < 0 or val + test >= 1:
        raise InputError(
            "split fractions",
            expected="val >= 0, test >= 0 and val + test < 1",
            found=f"val={val}, test={test}",
            fix="choose smaller fractions, e.g. val=0.1, test=0.2",
        )


def train_val_test_split(
    labeled: Sequence[LabeledCase], *, val: float = 0.1, test: float = 0.2, seed: int = 0
) -> Split:
    """Split into train / val / test, disjoint by patient and stratified by label.

    Per label, the patients are shuffled and cut by the fractions; counts are rounded
    stochastically (seeded) so small classes still reach val and test in proportion
    over many classes, and each label keeps at least one patient in train. A label with
    a single patient goes to train, since it cannot be both learned and tested.

    >>> from dxkit.cases.schema import Case
    >>> data = [LabeledCase(case=Case(case_id=str(i)), label="ab"[i % 2]) for i in range(20)]
    >>> s = train_val_test_split(data, val=0.2, test=0.2)
    >>> len(s.train), len(s.val), len(s.test)
    (12, 4, 4)
    """
    _check_fractions(val, test)
    members, label_of = _groups(labeled)
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = defaultdict(list)
    for group in sorted(members):
        by_label[label_of[group]].append(group)
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for label in sorted(by_label):
        groups = by_label[label]
        rng.shuffle(groups)
        n = len(groups)
        n_test = int(test * n + rng.random()) if n > 1 else 0
        n_val = int(val * n + rng.random()) if n > 1 else 0
        n_test = min(n_test, n - 1)
        n_val = min(n_val, n - 1 - n_test)
        parts["test"] += groups[:n_test]
        parts["val"] += groups[n_test : n_test + n_val]
        parts["train"] += groups[n_test + n_val :]

    def collect(groups: list[str]) -> list[LabeledCase]:
        return [labeled[i] for i in sorted(i for g in groups for i in members[g])]

    return Split(collect(parts["train"]), collect(parts["val"]), collect(parts["test"]))


def stratified_group_kfold(
    labeled: Sequence[LabeledCase], k: int = 5, seed: int = 0
) -> list[tuple[list[int], list[int]]]:
    """``k`` (train indices, test indices) folds, patient-disjoint and label-stratified.

    Uses scikit-learn's ``StratifiedGroupKFold``; its warning about classes with fewer
    than ``k`` members is silenced because rare classes are expected in clinical data.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    groups = [group_of(lc) for lc in labeled]
    n_groups = len(set(groups))
    if k < 2 or n_groups < k:
        raise InputError(
            "cross-validation folds",
            expected=f"2 <= k <= number of patients ({n_groups})",
            found=f"k={k}",
            fix="lower k or add more patients",
        )
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    labels = [lc.label for lc in labeled]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        folds = splitter.split(list(range(len(labeled))), labels, groups)
        return [(sorted(map(int, tr)), sorted(map(int, te))) for tr, te in folds]
