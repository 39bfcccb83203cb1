"""EncoderModel on a tiny random BERT: learns keywords, soft targets, long cases, round trip."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dxkit.cases.schema import Case, Observation
from dxkit.errors import InputError, ModelFormatError
from dxkit.models.base import MANIFEST, load_model
from dxkit.models.encoder import EncoderModel, head_tail_ids
from dxkit.models.encoder_config import EncoderConfig, pretrained_source
from dxkit.models.encoder_training import CHECKPOINT_FILE

KEYWORDS = {"cystitis": "burning urination", "eczema": "rash itching", "pneumonia": "fever cough"}


def make_cases(n_per_label: int, seed: int) -> tuple[list[Case], list[str]]:
    rng = random.Random(seed)
    cases, labels = [], []
    for label, words in KEYWORDS.items():
        for i in range(n_per_label):
            filler = " ".join(rng.sample(["mild", "since", "two", "days", "seen", "today"], 2))
            cases.append(Case(case_id=f"{label}-{i}", notes=f"{filler} {words}", age=30 + i))
            labels.append(label)
    return cases, labels


def config(tiny_bert: Path, **kw: object) -> EncoderConfig:
    base = EncoderConfig(
        pretrained=str(tiny_bert),
        max_length=64,
        epochs=20,
        batch_size=4,
        lr=2e-3,
        head_lr=1e-2,
        freeze_layers=-1,
        val_fraction=0.0,
        num_threads=1,
        progress=False,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fitted(tiny_bert: Path) -> EncoderModel:
    cases, labels = make_cases(20, seed=0)
    return EncoderModel(config(tiny_bert)).fit(cases, labels)


def test_learns_keywords(fitted: EncoderModel) -> None:
    cases, labels = make_cases(4, seed=1)
    proba = fitted.predict_proba(cases)
    assert proba.shape == (12, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    predicted = [fitted.labels[i] for i in proba.argmax(axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, labels, strict=True)]) >= 0.9


def test_text_is_readable_and_long_cases_are_cut_head_and_tail(fitted: EncoderModel) -> None:
    case = Case(
        case_id="x",
        notes="fever " * 400 + "cough",
        age=71,
        sex="female",
        observations=[Observation(code="8867-4", value=128, unit="/min")],
    )
    text = fitted.case_texts([case])[0]
    assert "heart rate 128 /min high" in text and "heart_rate_high" not in text
    ids = fitted.token_ids([text])[0]
    assert len(ids) == 64  # max_length, special tokens included
    tokens = fitted.tokenizer.convert_ids_to_tokens(ids)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and tokens[1] == "fever"
    assert "".join(tokens).replace("##", "").endswith("heartrate128/minhigh.[SEP]")  # tail kept
    assert fitted.predict_proba([case]).shape == (1, 3)


def test_head_tail_ids() -> None:
    assert head_tail_ids([1, 2, 3], 5) == [1, 2, 3]
    assert head_tail_ids(list(range(7)), 4) == [0, 1, 5, 6]


def test_soft_targets_shape_the_differential(tiny_bert: Path) -> None:
    cases, labels = make_cases(20, seed=2)
    soft = [{label: 0.6, "eczema" if label != "eczema" else "cystitis": 0.4} for label in labels]
    model = EncoderModel(config(tiny_bert)).fit(cases, labels, differentials=soft)
    proba = model.predict_proba(cases[:20])  # cystitis cases: 0.6 cystitis, 0.4 eczema
    mean = proba.mean(axis=0)
    # CE(soft) + CE(hard) is minimised at the average of the two targets: 0.8 / 0.2 / 0.
    assert mean[model.labels.index("cystitis")] > 0.6
    assert 0.1 < mean[model.labels.index("eczema")] < 0.35
    assert mean[model.labels.index("pneumonia")] < 0.05


def test_save_load_round_trip(fitted: EncoderModel, tmp_path: Path) -> None:
    cases, _ = make_cases(2, seed=3)
    fitted.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / MANIFEST).read_text())
    assert manifest["kind"] == "encoder" and manifest["labels"] == fitted.labels
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, EncoderModel)
    np.testing.assert_allclose(loaded.predict_proba(cases), fitted.predict_proba(cases), atol=1e-6)


def test_damaged_directories_are_refused(fitted: EncoderModel, tmp_path: Path) -> None:
    fitted.save(tmp_path / "m")
    shutil.copytree(tmp_path / "m", tmp_path / "no-weights")
    (tmp_path / "no-weights" / "encoder" / "model.safetensors").unlink()
    with pytest.raises(ModelFormatError, match=r"model\.safetensors"):
        load_model(tmp_path / "no-weights")
    manifest = json.loads((tmp_path / "m" / MANIFEST).read_text())
    manifest["labels"] = [*manifest["labels"], "extra"]
    (tmp_path / "m" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match="head with 4 outputs"):
        load_model(tmp_path / "m")


def test_resumes_from_checkpoint(tiny_bert: Path, tmp_path: Path) -> None:
    cases, labels = make_cases(6, seed=4)
    full = EncoderModel(config(tiny_bert, epochs=3)).fit(cases, labels)
    ckpt = str(tmp_path / "ckpt")
    EncoderModel(config(tiny_bert, epochs=3, checkpoint_dir=ckpt)).fit(cases, labels)
    assert (tmp_path / "ckpt" / CHECKPOINT_FILE).is_file()
    # A rerun with the same data and settings resumes at the end: same weights, no training.
    resumed = EncoderModel(config(tiny_bert, epochs=3, checkpoint_dir=ckpt)).fit(cases, labels)
    np.testing.assert_allclose(resumed.predict_proba(cases), full.predict_proba(cases), atol=1e-5)


def test_bad_settings_and_sources(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="max_length"):
        EncoderConfig(max_length=1000)
    with pytest.raises(InputError, match=r"config\.json"):
        pretrained_source(str(tmp_path))
    with pytest.raises(InputError, match="fitted"):
        EncoderModel().predict_proba([])
