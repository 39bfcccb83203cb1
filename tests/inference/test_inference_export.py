"""ONNX export of a tiny fine-tuned encoder: parity, int8 agreement, refusals, backends."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from dxkit.cases.schema import Case
from dxkit.errors import DataNotFoundError, InputError, ModelFormatError
from dxkit.inference.backends import (
    OnnxEncoderModel,
    available_backends,
    backend_from_env,
    describe,
    select_backend,
)
from dxkit.inference.export import INT8_FILE, ONNX_DIR, SIDECAR, export_onnx
from dxkit.models.base import MANIFEST
from dxkit.models.encoder import EncoderModel
from dxkit.models.encoder_config import EncoderConfig

KEYWORDS = {"cystitis": "burning urination", "eczema": "rash itching", "pneumonia": "fever cough"}
FILLER = ["mild", "since", "two", "days", "seen", "today", "chest", "pain", "at", "night"]


def texts_cases(n: int, seed: int) -> tuple[list[Case], list[str]]:
    rng = random.Random(seed)
    cases, labels = [], []
    for i in range(n):
        label = rng.choice(sorted(KEYWORDS))
        filler = " ".join(rng.choices(FILLER, k=rng.randint(1, 25)))
        cases.append(Case(case_id=f"c{i}", notes=f"{filler} {KEYWORDS[label]}", age=20 + i % 60))
        labels.append(label)
    return cases, labels


@pytest.fixture(scope="module")
def exported(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny encoder trained for a few epochs, saved and exported (fp32 + int8)."""
    cases, labels = texts_cases(60, seed=0)
    config = EncoderConfig(
        pretrained=str(tiny_bert),
        max_length=64,
        epochs=6,
        batch_size=8,
        lr=2e-3,
        head_lr=1e-2,
        freeze_layers=-1,
        val_fraction=0.0,
        num_threads=1,
        progress=False,
    )
    directory = tmp_path_factory.mktemp("onnx-model") / "m"
    EncoderModel(config).fit(cases, labels).save(directory)
    export_onnx(directory, int8=True)
    return directory


def test_fp32_matches_torch_and_int8_agrees(exported: Path) -> None:
    torch_model = EncoderModel.load(exported)
    cases, _ = texts_cases(300, seed=1)
    cases.append(Case(case_id="long", notes="fever " * 200 + "rash"))  # cut head + tail
    expected = torch_model.predict_proba(cases)
    fp32 = OnnxEncoderModel.load(exported, "onnx", threads=1)
    assert fp32.token_ids(["fever cough"]) == torch_model.token_ids(["fever cough"])
    np.testing.assert_allclose(fp32.predict_proba(cases), expected, atol=1e-5)
    int8 = OnnxEncoderModel.load(exported, "int8", threads=1)
    got = int8.predict_proba(cases)
    agreement = float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1)))
    assert agreement >= 0.95, agreement  # a random tiny model; the real figure is benchmarked
    assert np.abs(got - expected).max() < 0.2


def test_sidecar_records_the_export(exported: Path) -> None:
    meta = json.loads((exported / ONNX_DIR / SIDECAR).read_text())
    assert meta["input_names"] == ["input_ids", "attention_mask"]
    assert meta["n_labels"] == 3 and meta["opset"] == 17
    assert set(meta["files"]) == {"model.onnx", INT8_FILE}
    assert all(len(sha) == 64 for sha in meta["files"].values())


def test_select_backend_prefers_int8_and_env_forces(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert available_backends(exported) == ["int8", "onnx", "torch"]
    monkeypatch.delenv("DXKIT_BACKEND", raising=False)
    assert describe(select_backend(exported, threads=1)) == "onnxruntime-int8"
    monkeypatch.setenv("DXKIT_BACKEND", "onnx")
    assert describe(select_backend(exported, threads=1)) == "onnxruntime-onnx"
    monkeypatch.setenv("DXKIT_BACKEND", "torch")
    assert describe(select_backend(exported)) == "torch-EncoderModel"
    monkeypatch.setenv("DXKIT_BACKEND", "tpu")
    with pytest.raises(InputError, match="DXKIT_BACKEND: expected one of auto, torch"):
        backend_from_env()


def test_corrupted_graph_is_refused(exported: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(exported, copy)
    graph = copy / ONNX_DIR / INT8_FILE
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: the graph may still load, but lies
    graph.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="sha256 differs"):
        select_backend(copy, "int8")
    assert describe(select_backend(copy, "onnx", threads=1)) == "onnxruntime-onnx"


def test_mismatched_model_id_is_refused(exported: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(exported, copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["trained_at"] = "2000-01-01T00:00:00+00:00"  # as if retrained after the export
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match="retrained since the export"):
        select_backend(copy)


def test_missing_variant_and_label_count(exported: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(exported, copy)
    sidecar = copy / ONNX_DIR / SIDECAR
    meta = json.loads(sidecar.read_text())
    del meta["files"][INT8_FILE]
    sidecar.write_text(json.dumps(meta))
    assert available_backends(copy) == ["onnx", "torch"]
    with pytest.raises(DataNotFoundError, match="not exported"):
        select_backend(copy, "int8")
    meta["n_labels"] = 4
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match="4 outputs for 3 labels"):
        select_backend(copy, "onnx")


def test_tfidf_export_is_refused(tmp_path: Path) -> None:
    from dxkit.models.tfidf import TfidfModel

    cases, labels = texts_cases(30, seed=2)
    TfidfModel().fit(cases, labels).save(tmp_path / "tfidf")
    with pytest.raises(InputError, match="'tfidf' model, which cannot be exported to ONNX"):
        export_onnx(tmp_path / "tfidf")
    assert available_backends(tmp_path / "tfidf") == ["torch"]
    with pytest.raises(InputError, match="torch \\(or auto\\) for a model without an ONNX"):
        select_backend(tmp_path / "tfidf", "int8")


def test_export_fuses_kernels_and_keeps_parity_nodes_fp32(exported: Path) -> None:
    import onnx

    from dxkit.inference.export import FP32_FILE

    meta = json.loads((exported / ONNX_DIR / SIDECAR).read_text())
    assert meta["fused"]["Attention"] == 2 and meta["fused"]["SkipLayerNormalization"] == 4
    ops = [n.op_type for n in onnx.load(str(exported / ONNX_DIR / FP32_FILE)).graph.node]
    assert "Attention" in ops and "Softmax" not in ops  # eager attention traced and fused
    int8 = onnx.load(str(exported / ONNX_DIR / INT8_FILE)).graph.node
    fp32_matmuls = sorted(n.name for n in int8 if n.op_type == "MatMul")
    assert fp32_matmuls == [
        "/inner/classifier/Gemm_MatMul",  # the head writes the logits
        "/inner/encoder/encoder/layer.0/output/dense/MatMul",  # FFN outputs: outliers
        "/inner/encoder/encoder/layer.1/output/dense/MatMul",
    ]
    assert sum(n.op_type == "QAttention" for n in int8) == 2


def test_token_budget_batches() -> None:
    from dxkit.inference.backends import token_batches

    lengths = [256, 10, 256, 12, 11, 300]
    assert token_batches(lengths, batch_size=2, max_tokens=600) == [[1, 4], [3, 0], [2, 5]]
    # the budget cuts first: two 256-piece cases (512 padded tokens) exceed 500
    assert token_batches(lengths, batch_size=8, max_tokens=500) == [[1, 4, 3], [0], [2], [5]]
    assert token_batches([900], batch_size=8, max_tokens=100) == [[0]]  # too long: alone
    assert token_batches([], batch_size=8, max_tokens=100) == []


def test_batching_does_not_change_fp32_answers(exported: Path) -> None:
    model = OnnxEncoderModel.load(exported, "onnx", threads=1, mode="throughput")
    cases, _ = texts_cases(40, seed=3)
    ids = model.token_ids(model.case_texts(cases))
    one_by_one = np.vstack([model.logits([x]) for x in ids])
    np.testing.assert_allclose(model.logits(ids, batch_size=64, max_tokens=64), one_by_one,
                               atol=1e-4)  # fmt: skip
