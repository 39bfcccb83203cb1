"""RnnModel: a tiny GRU learns keywords in English and Chinese, uses soft targets, round-trips."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dxkit.cases.schema import Case, Observation
from dxkit.errors import InputError, ModelFormatError
from dxkit.models.base import MANIFEST, load_model
from dxkit.models.rnn import RnnConfig, RnnModel, stratified_split

TINY = RnnConfig(
    epochs=5,
    batch_size=8,
    lr=2e-2,
    embed_dim=16,
    hidden_dim=16,
    mlp_dim=32,
    min_freq=1,
    patience=5,
    progress=False,
    num_threads=1,
)

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
    return make_cases(20, seed=1)


@pytest.fixture(scope="module")
def fitted(data: tuple[list[Case], list[str]]) -> RnnModel:
    return RnnModel(TINY).fit(*data)


def test_labels_sorted_and_heldout_cases_correct(fitted: RnnModel) -> None:
    assert fitted.labels == ["gastroenteritis", "influenza", "migraine"]
    test_cases, test_labels = make_cases(4, seed=99)
    proba = fitted.predict_proba(test_cases)
    assert proba.shape == (12, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    predicted = [fitted.labels[i] for i in proba.argmax(axis=1)]
    assert predicted == test_labels


def test_training_is_seeded(data: tuple[list[Case], list[str]], fitted: RnnModel) -> None:
    again = RnnModel(TINY).fit(*data)
    queries, _ = make_cases(1, seed=5)
    np.testing.assert_allclose(again.predict_proba(queries), fitted.predict_proba(queries))


def test_soft_targets_put_mass_on_second_label(data: tuple[list[Case], list[str]]) -> None:
    cases, labels = data
    diffs = [{"influenza": 0.6, "migraine": 0.4} if y == "influenza" else None for y in labels]
    fever = Observation(code="8310-5", value=39.2, unit="Cel")
    flu = [Case(case_id="q", age=35, sex="female", notes="fever cough", observations=[fever])]
    hard = RnnModel(TINY).fit(cases, labels).predict_proba(flu)[0]
    soft_model = RnnModel(TINY).fit(cases, labels, differentials=diffs)
    soft = soft_model.predict_proba(flu)[0]
    migraine = soft_model.labels.index("migraine")
    # the loss CE(soft) + CE(hard) is minimised at 0.8 influenza / 0.2 migraine
    assert hard[migraine] < 0.1
    assert soft[migraine] > 0.1
    assert soft[migraine] > 3 * hard[migraine]
    assert soft_model.labels[int(soft.argmax())] == "influenza"


def test_save_load_in_fresh_process_gives_identical_probabilities(
    fitted: RnnModel, tmp_path: Path
) -> None:
    queries, _ = make_cases(2, seed=7)
    expected = fitted.predict_proba(queries)
    fitted.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        MANIFEST,
        "vocab.json",
        "weights.pt",
    ]
    torch.load(tmp_path / "model" / "weights.pt", weights_only=True)  # no pickled objects
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
    np.testing.assert_allclose(np.asarray(out["p"]), expected, rtol=1e-5, atol=1e-7)


def test_load_errors_name_the_problem(fitted: RnnModel, tmp_path: Path) -> None:
    target = tmp_path / "m"
    fitted.save(target)
    loaded = load_model(target)
    assert isinstance(loaded, RnnModel)
    assert loaded.config == TINY
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["format_version"] = 0
    (target / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match="format_version 0"):
        RnnModel.load(target)
    fitted.save(target)
    (target / "vocab.json").unlink()
    with pytest.raises(ModelFormatError, match=r"vocab\.json"):
        RnnModel.load(target)
    fitted.save(target)
    with pytest.raises(ModelFormatError, match="'rnn' model"):
        __import__("dxkit.models.tfidf").models.tfidf.TfidfModel.load(target)


def test_long_texts_are_truncated(fitted: RnnModel) -> None:
    long_case = Case(case_id="long", notes="headache " + "filler " * 5000 + "photophobia")
    ids, _ = fitted._encode([long_case])
    assert len(ids[0]) == TINY.max_len
    assert fitted.predict_proba([long_case]).shape == (1, 3)


def test_stratified_split_keeps_every_class() -> None:
    y = np.repeat([0, 1, 2], 10)
    train, val = stratified_split(y, 0.1, seed=3)
    assert sorted(y[val].tolist()) == [0, 1, 2]
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 30
    assert np.array_equal(val, stratified_split(y, 0.1, seed=3)[1])


def test_input_errors(data: tuple[list[Case], list[str]]) -> None:
    cases, _ = data
    with pytest.raises(InputError, match=r"training set.*no cases"):
        RnnModel(TINY).fit([], [])
    with pytest.raises(InputError, match="at least two distinct diagnoses"):
        RnnModel(TINY).fit(cases[:4], ["flu"] * 4)
    with pytest.raises(InputError, match="fitted model"):
        RnnModel(TINY).predict_proba(cases)
    with pytest.raises(InputError, match=r"RnnConfig\.hidden_dim.*>= 1"):
        RnnConfig(hidden_dim=0)
    with pytest.raises(InputError, match="val_fraction"):
        RnnConfig(val_fraction=0.7)
