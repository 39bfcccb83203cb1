"""TfidfModel: learns keywords in English and Chinese, uses soft targets, round-trips."""

from __future__ import annotations

import importlib
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dxkit.cases.schema import Case, Observation
from dxkit.errors import InputError, ModelFormatError
from dxkit.models.base import MANIFEST, load_model
from dxkit.models.shared import atomic_model_dir
from dxkit.models.tfidf import TfidfConfig, TfidfModel, fit_soft_head, soft_head_proba

KEYWORDS = {
    "influenza": (["fever", "cough", "myalgia", "chills"], ["发烧", "咳嗽", "肌肉酸痛"]),
    "migraine": (["headache", "photophobia", "aura", "throbbing"], ["头痛", "畏光", "恶心"]),
    "gastroenteritis": (["diarrhea", "vomiting", "cramps", "watery"], ["腹泻", "呕吐", "腹痛"]),
}
FILLER = ["patient", "reports", "since", "yesterday", "mild", "days", "seen", "clinic"]


def make_cases(n_per_label: int, seed: int) -> tuple[list[Case], list[str]]:
    """Cases whose notes mix two keywords of their label with filler; every third is Chinese."""
    rng = random.Random(seed)
    cases, labels = [], []
    for label, (en, zh) in KEYWORDS.items():
        for i in range(n_per_label):
            if i % 3 == 2:
                notes = "患者" + "".join(rng.sample(zh, 2)) + "两天"
            else:
                notes = " ".join(rng.sample(en, 2) + rng.sample(FILLER, 3))
            obs = [
                Observation(code="8310-5", value=39.0 if label == "influenza" else 36.8, unit="Cel")
            ]
            cases.append(
                Case(
                    case_id=f"{label}-{seed}-{i}",
                    age=30 + i,
                    sex="female",
                    notes=notes,
                    observations=obs,
                )
            )
            labels.append(label)
    return cases, labels


@pytest.fixture(scope="module")
def data() -> tuple[list[Case], list[str]]:
    return make_cases(10, seed=1)


@pytest.fixture(scope="module")
def fitted(data: tuple[list[Case], list[str]]) -> TfidfModel:
    return TfidfModel().fit(*data)


def test_labels_sorted_and_heldout_cases_correct(fitted: TfidfModel) -> None:
    assert fitted.labels == ["gastroenteritis", "influenza", "migraine"]
    test_cases, test_labels = make_cases(4, seed=99)
    proba = fitted.predict_proba(test_cases)
    assert proba.shape == (12, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    predicted = [fitted.labels[i] for i in proba.argmax(axis=1)]
    assert predicted == test_labels


def test_chinese_only_case_is_recognised(fitted: TfidfModel) -> None:
    proba = fitted.predict_proba([Case(case_id="zh", notes="头痛，畏光")])
    assert fitted.labels[int(proba.argmax())] == "migraine"


@pytest.mark.parametrize("soft_fit", ["direct", "expand"])
def test_soft_targets_put_mass_on_second_label(
    data: tuple[list[Case], list[str]], soft_fit: str
) -> None:
    cases, labels = data
    diffs = [{"influenza": 0.6, "migraine": 0.4} if y == "influenza" else None for y in labels]
    fever = Observation(code="8310-5", value=39.2, unit="Cel")
    flu = [Case(case_id="q", age=35, sex="female", notes="fever cough", observations=[fever])]
    hard = TfidfModel().fit(cases, labels).predict_proba(flu)[0]
    soft_model = TfidfModel(TfidfConfig(soft_fit=soft_fit)).fit(cases, labels, differentials=diffs)
    soft = soft_model.predict_proba(flu)[0]
    migraine = soft_model.labels.index("migraine")
    # target for influenza cases: 0.5 * one-hot + 0.5 * differential = 0.8 / 0.2
    assert hard[migraine] < 0.05
    assert soft[migraine] > 0.1
    assert soft[migraine] > 4 * hard[migraine]
    assert soft_model.labels[int(soft.argmax())] == "influenza"


def test_differential_only_labels_join_the_label_set(data: tuple[list[Case], list[str]]) -> None:
    cases, labels = data
    diffs = [{y: 0.9, "sinusitis": 0.1} for y in labels]
    model = TfidfModel().fit(cases, labels, differentials=diffs)
    assert "sinusitis" in model.labels
    assert model.predict_proba(cases[:2]).shape == (2, 4)


def test_save_load_in_fresh_process_gives_identical_probabilities(
    fitted: TfidfModel, tmp_path: Path
) -> None:
    queries, _ = make_cases(2, seed=7)
    expected = fitted.predict_proba(queries)
    fitted.save(tmp_path / "model")
    (tmp_path / "cases.json").write_text(json.dumps([c.model_dump(mode="json") for c in queries]))
    code = (
        "import json, sys; from pathlib import Path; from dxkit.cases.schema import Case;"
        "from dxkit.models.base import load_model;"
        "d = Path(sys.argv[1]); m = load_model(d / 'model');"
        "cs = [Case.model_validate(c) for c in json.loads((d / 'cases.json').read_text())];"
        "print(json.dumps({'labels': m.labels, 'p': m.predict_proba(cs).tolist()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    out = json.loads(result.stdout)
    assert out["labels"] == fitted.labels
    np.testing.assert_array_equal(np.asarray(out["p"]), expected)


def test_load_errors_name_the_problem(fitted: TfidfModel, tmp_path: Path) -> None:
    target = tmp_path / "m"
    fitted.save(target)
    assert isinstance(load_model(target), TfidfModel)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["format_version"] = 999
    (target / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match="format_version 999"):
        TfidfModel.load(target)
    fitted.save(target)  # overwrite a saved model in place
    (target / "pipeline.joblib").unlink()
    with pytest.raises(ModelFormatError, match=r"pipeline\.joblib.*retrain"):
        TfidfModel.load(target)


def test_atomic_save_refuses_to_overwrite_unrelated_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with (
        pytest.raises(InputError, match="is a directory of other files"),
        atomic_model_dir(tmp_path),
    ):
        pass
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_failed_save_leaves_old_model(fitted: TfidfModel, tmp_path: Path) -> None:
    fitted.save(tmp_path / "m")
    with pytest.raises(RuntimeError), atomic_model_dir(tmp_path / "m") as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("disk full")
    assert TfidfModel.load(tmp_path / "m").labels == fitted.labels
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_input_errors(data: tuple[list[Case], list[str]]) -> None:
    cases, labels = data
    with pytest.raises(InputError, match=r"training set.*no cases"):
        TfidfModel().fit([], [])
    with pytest.raises(InputError, match="at least two distinct diagnoses"):
        TfidfModel().fit(cases[:3], ["flu"] * 3)
    with pytest.raises(InputError, match="one label per case"):
        TfidfModel().fit(cases, labels[:-1])
    with pytest.raises(InputError, match="finite and >= 0"):
        TfidfModel().fit(cases[:2], labels[:2], differentials=[{"a": -1.0}, None])
    with pytest.raises(InputError, match="fitted model"):
        TfidfModel().predict_proba(cases)
    with pytest.raises(InputError, match=r"TfidfConfig\.C.*> 0"):
        TfidfConfig(C=0)
    with pytest.raises(InputError, match="hard_label_weight"):
        TfidfConfig(hard_label_weight=1.5)
    with pytest.raises(InputError, match=r"TfidfConfig\.soft_fit.*direct or expand"):
        TfidfConfig(soft_fit="sample")
    with pytest.raises(InputError, match=r"TfidfConfig\.hidden.*>= 0"):
        TfidfConfig(hidden=-1)
    with pytest.raises(InputError, match=r"TfidfConfig\.soft_l2.*>= 0"):
        TfidfConfig(soft_l2=-1e-3)


DIFFERENTIAL = {
    "influenza": {"influenza": 0.6, "migraine": 0.3, "gastroenteritis": 0.1},
    "migraine": {"migraine": 0.8, "influenza": 0.2},
    "gastroenteritis": {"gastroenteritis": 0.5, "influenza": 0.5},
}


def _kl(target: dict[str, float], proba: np.ndarray, labels: list[str]) -> float:
    return sum(p * float(np.log(p / proba[labels.index(k)])) for k, p in target.items())


@pytest.mark.parametrize("hidden", [0, 16])
def test_direct_soft_fit_reproduces_the_target_distribution(
    data: tuple[list[Case], list[str]], hidden: int
) -> None:
    cases, labels = data
    diffs = [DIFFERENTIAL[y] for y in labels]
    config = TfidfConfig(hard_label_weight=0.0, hidden=hidden, soft_l2=1e-6)
    model = TfidfModel(config).fit(cases, labels, differentials=diffs)
    proba = model.predict_proba(cases)
    kl = [_kl(DIFFERENTIAL[y], p, model.labels) for y, p in zip(labels, proba, strict=True)]
    assert max(kl) < 0.02  # about 1.6 with the hard head alone (measured)


def test_fit_soft_head_matches_soft_targets_on_a_tiny_matrix() -> None:
    from scipy import sparse

    x = sparse.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    targets = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]])
    head = fit_soft_head(x, targets, l2=0.0, hidden=0, max_iter=200, seed=0)
    proba = soft_head_proba(x, head)
    np.testing.assert_allclose(proba, targets, atol=1e-3)
    assert head["w"].dtype == np.float32 and head["w"].shape == (3, 3)


def test_ground_truth_stays_on_top_and_differential_survives(
    data: tuple[list[Case], list[str]],
) -> None:
    cases, labels = data
    # the differential ranks another label first; the hard head keeps the ground truth top
    flipped = {"influenza": {"migraine": 0.6, "influenza": 0.4}}
    diffs = [flipped.get(y, {y: 1.0}) for y in labels]
    model = TfidfModel(TfidfConfig(hidden=0)).fit(cases, labels, differentials=diffs)
    proba = model.predict_proba(cases[:10])  # the influenza cases
    migraine, flu = model.labels.index("migraine"), model.labels.index("influenza")
    assert np.all(proba.argmax(axis=1) == flu)
    assert np.all(proba[:, migraine] > 0.2)  # target 0.5 * 0.6


def test_direct_soft_fit_is_deterministic(data: tuple[list[Case], list[str]]) -> None:
    cases, labels = data
    diffs = [DIFFERENTIAL[y] for y in labels]
    first = TfidfModel().fit(cases, labels, differentials=diffs).predict_proba(cases)
    second = TfidfModel().fit(cases, labels, differentials=diffs).predict_proba(cases)
    np.testing.assert_array_equal(first, second)


def test_soft_model_save_load_round_trip(
    data: tuple[list[Case], list[str]], tmp_path: Path
) -> None:
    cases, labels = data
    diffs = [DIFFERENTIAL[y] for y in labels]
    model = TfidfModel(TfidfConfig(hidden=8)).fit(cases, labels, differentials=diffs)
    queries, _ = make_cases(2, seed=5)
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "soft_head.npz").is_file()
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, TfidfModel) and loaded.config == model.config
    np.testing.assert_array_equal(loaded.predict_proba(queries), model.predict_proba(queries))
    (tmp_path / "m" / "soft_head.npz").unlink()
    with pytest.raises(ModelFormatError, match=r"soft_head\.npz.*retrain"):
        TfidfModel.load(tmp_path / "m")


def test_model_saved_before_the_soft_head_still_loads(fitted: TfidfModel, tmp_path: Path) -> None:
    fitted.save(tmp_path / "old")
    manifest = json.loads((tmp_path / "old" / MANIFEST).read_text())
    del manifest["soft_head"]  # the manifest and config of the earlier format
    for name in ("soft_fit", "soft_l2", "hidden", "soft_max_iter", "seed"):
        del manifest["config"][name]
    (tmp_path / "old" / MANIFEST).write_text(json.dumps(manifest))
    queries, _ = make_cases(2, seed=3)
    loaded = TfidfModel.load(tmp_path / "old")
    np.testing.assert_array_equal(loaded.predict_proba(queries), fitted.predict_proba(queries))


def _ddxplus_loader() -> Any:
    """``load_labeled`` from the case loaders, wherever it lives; None if not there yet."""
    for module in ("dxkit.cases.io", "dxkit.cases.benchmarks"):
        try:
            loader = getattr(importlib.import_module(module), "load_labeled", None)
        except ImportError:
            continue
        if loader is not None:
            return loader
    return None


@pytest.mark.slow
def test_ddxplus_tfidf_learns(shared_data: Path) -> None:
    load_labeled = _ddxplus_loader()
    if load_labeled is None:
        pytest.skip("no load_labeled in dxkit.cases.io or dxkit.cases.benchmarks")
    records = load_labeled(shared_data / "ddxplus" / "patients_dev.csv", "ddxplus", limit=400)
    train, test = records[:250], records[250:]
    model = TfidfModel(TfidfConfig(min_df=2)).fit(
        [r.case for r in train],
        [r.label for r in train],  # hard labels keep this quick; soft targets: tests above
    )
    proba = model.predict_proba([r.case for r in test])
    predicted = [model.labels[i] for i in proba.argmax(axis=1)]
    top1 = np.mean([p == r.label for p, r in zip(predicted, test, strict=True)])
    assert top1 > 0.5  # 49 conditions: chance is about 0.02


@pytest.mark.parametrize("use_tabular", [False, True])
def test_serving_features_equal_the_column_transformer(
    data: tuple[list[Case], list[str]], use_tabular: bool
) -> None:
    """The DataFrame-free path used by predict_proba builds exactly the fitted matrix."""
    from dxkit.models.tfidf import _frame

    model = TfidfModel(TfidfConfig(use_tabular=use_tabular)).fit(*data)
    cases = make_cases(2, seed=9)[0]
    expected = model._pipeline[0].transform(_frame(cases, use_tabular))
    found = model._features(cases)
    assert found.shape == expected.shape
    assert abs(found - expected).max() == 0.0
