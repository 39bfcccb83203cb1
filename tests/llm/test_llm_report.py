"""`dxkit report`: HTML, PDF and WAV from templates or the LLM; bad input exits 2."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from tiny_llm_server import ServerThread
from typer.testing import CliRunner

from dxkit.cases.io import write_jsonl
from dxkit.cases.schema import Case, Observation
from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.cli import app, main
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.llm.case_plots import vitals_figure
from dxkit.llm.case_report import build_case_report, render_case_html
from dxkit.report.differential import Differential

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, tiny_kb: KnowledgeBase) -> Path:
    root = tmp_path_factory.mktemp("report")
    write_jsonl(
        root / "train.jsonl", CohortGenerator(CohortConfig(n=200, seed=0), tiny_kb).generate()
    )
    args = ["train", "--model", "tfidf", "--data", str(root / "train.jsonl"), "--no-calibrate"]
    args += ["--no-deid", "--no-soft"]
    result = runner.invoke(app, [*args, "--out", str(root / "model")])
    assert result.exit_code == 0, result.output
    start = datetime(2024, 3, 1, 8, 0)
    case = Case(
        case_id="r1",
        age=40,
        sex="female",
        notes="Fever and cough for three days. Call me on 555-867-5309.",
        observations=[
            Observation(
                code="8310-5", value=37.5 + i * 0.6, unit="Cel", time=start + timedelta(hours=i)
            )
            for i in range(3)
        ],
    )
    (root / "case.json").write_text(case.model_dump_json())
    return root


def test_vitals_trend_needs_two_timed_readings(case: Case) -> None:
    assert vitals_figure(case) is None
    timed = case.model_copy(
        update={
            "observations": [
                o.model_copy(update={"time": datetime(2024, 1, 1, h)})
                for h, o in enumerate([case.observations[0]] * 2)
            ]
        }
    )
    assert vitals_figure(timed) is not None


def test_html_escapes_notes_and_marks_the_set(case: Case, answer: Differential) -> None:
    hostile = case.model_copy(update={"notes": "<script>alert(1)</script> fever"})
    page = render_case_html(build_case_report(hostile, answer, lang="zh"))
    assert "<script>" not in page and "data:image/png;base64," in page
    assert "这不是诊断" in page and page.count("<td>yes</td>") == 2


def test_report_html_pdf_audio_from_templates(files: Path) -> None:
    out = files / "out"
    args = ["report", str(files / "case.json"), "--model", str(files / "model")]
    args += ["--html", str(out / "r.html"), "--pdf", str(out / "r.pdf")]
    if shutil.which("espeak-ng"):
        args += ["--audio", str(out / "r.wav"), "--lang", "zh"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    page = (out / "r.html").read_text()
    assert "867-5309" not in page  # de-identified before anything is written
    assert page.count("data:image/png;base64,") == 3  # differential, evidence, vitals
    assert (out / "r.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "r.pdf").stat().st_mode & 0o077 == 0
    if shutil.which("espeak-ng"):
        wav = (out / "r.wav").read_bytes()
        assert wav[:4] == b"RIFF" and len(wav) > 10_000


def test_report_with_llm_uses_the_server(
    files: Path, server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DXKIT_LLM_BASE_URL", server.url)
    monkeypatch.setenv("DXKIT_LLM_MODEL", "tiny-random-gpt2")
    server.state.mode = "garbage"
    out = files / "llm.html"
    args = ["report", str(files / "case.json"), "--model", str(files / "model"), "--llm"]
    result = runner.invoke(app, [*args, "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert "LLM not used (invalid_json" in out.read_text()
    assert len(server.state.bodies) == 3
    assert all("867-5309" not in body for body in server.state.bodies)


def test_bad_input_is_one_line_and_exit_2(
    files: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("DXKIT_LLM_BASE_URL", raising=False)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"case_id": "x", "notes": "n", "age": 300}))
    for args in (
        [str(files / "case.json")],
        [str(files / "case.json"), "--html", str(tmp_path / "a.html"), "--lang", "fr"],
        [str(files / "case.json"), "--html", str(tmp_path / "a.html"), "--llm"],
        [str(bad), "--html", str(tmp_path / "a.html"), "--model", str(files / "model")],
    ):
        monkeypatch.setattr(sys, "argv", ["dxkit", "report", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, err
        assert err.startswith("error: ") and err.count("\n") == 1
