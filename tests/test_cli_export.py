"""``dxkit export`` and ``dxkit score`` through the command line (tiny models)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dxkit.cases.schema import Case
from dxkit.cli import app
from dxkit.models.encoder import EncoderModel
from dxkit.models.encoder_config import EncoderConfig

runner = CliRunner()


def tiny_cases(n: int) -> tuple[list[Case], list[str]]:
    rng = random.Random(0)
    words = {"flu": "fever cough", "eczema": "rash itching"}
    labels = [rng.choice(sorted(words)) for _ in range(n)]
    cases = [Case(case_id=f"c{i}", notes=words[y]) for i, y in enumerate(labels)]
    return cases, labels


@pytest.fixture(scope="module")
def encoder_dir(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cases, labels = tiny_cases(16)
    config = EncoderConfig(
        pretrained=str(tiny_bert), max_length=32, epochs=1, val_fraction=0.0, progress=False
    )
    directory = tmp_path_factory.mktemp("cli-export") / "m"
    EncoderModel(config).fit(cases, labels).save(directory)
    return directory


def test_export_then_score_with_int8(encoder_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", str(encoder_dir), "--format", "onnx", "--int8"])
    assert result.exit_code == 0, result.output
    assert "model.int8.onnx" in result.output and (encoder_dir / "onnx" / "export.json").is_file()
    source = tmp_path / "cases.jsonl"
    source.write_text("".join(json.dumps({"case_id": f"x{i}", "notes": "fever"}) + "\n"
                              for i in range(5)))  # fmt: skip
    out = tmp_path / "scores.jsonl"
    args = ["score", str(source), "--out", str(out), "--model", str(encoder_dir)]
    result = runner.invoke(app, [*args, "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "backend: onnxruntime-int8" in result.output and "scored 5 rows" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["case_id"] for r in rows] == [f"x{i}" for i in range(5)]
    result = runner.invoke(app, args)  # already complete: nothing scored twice
    assert "scored 0 rows" in result.output and "resumed after 5 rows" in result.output
    assert len(out.read_text().splitlines()) == 5


def test_export_refuses_other_formats_and_kinds(tmp_path: Path) -> None:
    from dxkit.cli import main
    from dxkit.models.tfidf import TfidfModel

    cases, labels = tiny_cases(20)
    TfidfModel().fit(cases, labels).save(tmp_path / "tfidf")
    result = runner.invoke(app, ["export", str(tmp_path / "tfidf"), "--format", "tflite"])
    assert "expected onnx" in str(result.exception)
    result = runner.invoke(app, ["export", str(tmp_path / "tfidf")])
    assert "cannot be exported to ONNX" in str(result.exception)
    assert callable(main)


def test_export_of_tfidf_is_one_line_and_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dxkit.cli import main
    from dxkit.models.tfidf import TfidfModel

    cases, labels = tiny_cases(20)
    TfidfModel().fit(cases, labels).save(tmp_path / "tfidf")
    monkeypatch.setattr("sys.argv", ["dxkit", "export", str(tmp_path / "tfidf"), "--int8"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: ONNX export: expected a model of kind encoder")
