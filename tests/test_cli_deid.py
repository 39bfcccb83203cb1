"""``dxkit deid``: real runs on small files, stdin, atomic output, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTE = (
    "Patient: Grace Whitfield  MRN: 00482913\n"
    "Seen 03/14/2023 by Dr. Alvarez. Metformin 500 mg BID, BP 128/82 mmHg.\n"
    "患者：张伟，电话13800138000。\n"
)


def run_deid(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("DXKIT_DEID_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "dxkit", *args],
        input=stdin,
        capture_output=True,
        env=env,
        check=False,
    )


@pytest.fixture()
def note_file(tmp_path: Path) -> Path:
    path = tmp_path / "note.txt"
    path.write_text(NOTE, encoding="utf-8")
    return path


def test_tags_to_stdout_with_a_counts_report(note_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = run_deid("deid", str(note_file), "--report", "--report-json", str(report))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert out == (
        "Patient: [NAME]  MRN: [MRN]\n"
        "Seen [DATE] by Dr. [NAME]. Metformin 500 mg BID, BP 128/82 mmHg.\n"
        "患者：[NAME]，电话[PHONE]。\n"
    )
    assert "NAME" in result.stderr.decode() and "Whitfield" not in result.stderr.decode()
    counts = json.loads(report.read_text())["counts"]
    assert counts == {"NAME": 3, "MRN": 1, "DATE": 1, "PHONE": 1}
    assert note_file.read_text(encoding="utf-8") == NOTE  # the original is untouched


def test_stdin_surrogates_to_an_atomic_out_file(tmp_path: Path) -> None:
    out = tmp_path / "clean.txt"
    result = run_deid("deid", "-", "--policy", "surrogate", "--out", str(out), stdin=NOTE.encode())
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    clean = out.read_text(encoding="utf-8")
    for original in ("Whitfield", "00482913", "03/14/2023", "Alvarez", "张伟", "13800138000"):
        assert original not in clean
    assert "Metformin 500 mg BID, BP 128/82 mmHg." in clean
    assert [p.name for p in tmp_path.iterdir()] == ["clean.txt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "bogus"], "expected tag | surrogate | remove; found 'bogus'"),
        (["--out", "SELF"], "never modified in place"),
    ],
)
def test_bad_options_fail_in_one_line(note_file: Path, args: list[str], message: str) -> None:
    args = [str(note_file) if arg == "SELF" else arg for arg in args]
    result = run_deid("deid", str(note_file), *args)
    assert result.returncode == 2
    err = result.stderr.decode()
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert note_file.read_text(encoding="utf-8") == NOTE


def test_binary_input_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    binary = tmp_path / "scan.bin"
    binary.write_bytes(b"Patient: Grace\x00\xff\xfe")
    out = tmp_path / "clean.txt"
    result = run_deid("deid", str(binary), "--out", str(out))
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "expected UTF-8 text; found binary data" in err and "Grace" not in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["scan.bin"]
