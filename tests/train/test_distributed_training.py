"""Data-parallel training: 2 CPU processes train the same model as one process would.

Tolerance: the two runs take mathematically identical steps (each process trains on its
slice of the same global batch, losses weighted so the averaged gradient is the batch's
gradient), so they differ only by float32 summation order in the gradient all-reduce -
about 1e-7 relative per step. Measured: 1.2e-7 at most in any predicted probability after
18 AdamW steps; the bound asserted is 1e-5, room for other CPUs' kernels, while a real
mismatch (a wrong slice, a missing loss weight, gradients not averaged) moves
probabilities by 1e-2 or more, as the last check of the test shows.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.models.base import load_model
from dxkit.models.rnn import RnnConfig, RnnModel
from dxkit.train.distributed import (
    check_nproc,
    fit_unfitted,
    shard,
    train_data_parallel,
    world,
)

TOLERANCE = 1e-5
CONFIG = RnnConfig(
    epochs=3,
    batch_size=9,  # odd: the two processes get slices of 5 and 4 cases
    lr=2e-2,
    embed_dim=8,
    hidden_dim=8,
    mlp_dim=16,
    dropout=0.0,  # dropout masks are drawn per process; without it the runs are comparable
    min_freq=1,
    val_fraction=0.2,
    progress=False,
    num_threads=1,
)
WORDS = {"flu": ["fever", "cough", "chills"], "gi": ["diarrhea", "vomiting", "cramps"]}


def make_cases(n: int) -> tuple[list[Case], list[str]]:
    rng = random.Random(0)
    cases, labels = [], []
    for i in range(n):
        label = "flu" if i % 2 else "gi"
        notes = " ".join(rng.sample(WORDS[label], 2) + rng.sample(["mild", "since", "days"], 2))
        cases.append(Case(case_id=str(i), age=20 + i % 50, sex="female", notes=notes))
        labels.append(label)
    return cases, labels


def test_outside_a_process_group_nothing_is_sliced() -> None:
    batch = np.arange(7)
    part, weight = shard(batch)
    assert world() == (0, 1)
    assert part.tolist() == batch.tolist() and weight == 1.0


def test_two_processes_match_single_process_training(tmp_path: Path) -> None:
    cases, labels = make_cases(58)  # 46 training cases: the last batch of an epoch is 1 case
    single = RnnModel(CONFIG).fit(cases, labels)
    out = tmp_path / "ddp"
    train_data_parallel(2, fit_unfitted, (RnnModel(CONFIG), cases, labels), out)
    parallel = load_model(out)
    assert parallel.labels == single.labels
    p1, p2 = single.predict_proba(cases), parallel.predict_proba(cases)
    assert np.abs(p1 - p2).max() < TOLERANCE
    truth = np.asarray([single.labels.index(y) for y in labels])
    assert (p2.argmax(axis=1) == truth).mean() > 0.9  # it trained, not just matched
    # the same processes without the loss weights / slicing would be a different run:
    other = RnnModel(replace(CONFIG, batch_size=5)).fit(cases, labels)
    assert np.abs(other.predict_proba(cases) - p1).max() > 10 * TOLERANCE


def test_a_failing_worker_is_one_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    cases, _ = make_cases(10)
    with pytest.raises(InputError, match="distributed training: expected all 2 worker"):
        train_data_parallel(
            2, fit_unfitted, (RnnModel(CONFIG), cases, ["flu"] * 10), tmp_path / "m"
        )
    assert not (tmp_path / "m").exists()


def test_nproc_is_refused_for_tfidf() -> None:
    check_nproc("rnn", 2)
    with pytest.raises(InputError, match="--nproc: expected 1 for 'tfidf'"):
        check_nproc("tfidf", 2)
