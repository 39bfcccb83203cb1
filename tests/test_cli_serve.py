"""``dxkit serve`` refuses what it must not do before it starts a server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_serve(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DXKIT_HOME": str(home), "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "dxkit", "serve", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_other_interfaces_are_refused_until_auth_is_enforced(tmp_path: Path) -> None:
    result = run_serve("--host", "0.0.0.0", home=tmp_path)
    assert result.returncode == 2
    assert "expected a loopback address" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_model_directory_is_refused(tmp_path: Path) -> None:
    result = run_serve("--model", str(tmp_path / "nope"), home=tmp_path)
    assert result.returncode == 2
    assert "expected a directory written by `dxkit train --out DIR`" in result.stderr
