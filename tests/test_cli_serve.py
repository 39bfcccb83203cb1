"""``dxkit serve`` refuses what it must not do before it starts a server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import uvicorn
from typer.testing import CliRunner

from dxkit.cli_serve import register
from dxkit.service import devkeys


def run_serve(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DXKIT_") or name == "DXKIT_SHARED_DATA"
    }
    env |= {"DXKIT_HOME": str(home), "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "dxkit", "serve", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_no_token_verification_key_is_refused_before_serving(tmp_path: Path) -> None:
    result = run_serve("--host", "0.0.0.0", home=tmp_path)
    assert result.returncode == 2
    assert "DXKIT_JWT_PUBLIC_KEY_FILE" in result.stderr and "Traceback" not in result.stderr
    assert "DXKIT_DEV_MODE=1" in result.stderr


def test_a_missing_model_directory_is_refused(tmp_path: Path) -> None:
    result = run_serve("--model", str(tmp_path / "nope"), home=tmp_path)
    assert result.returncode == 2
    assert "expected a directory written by `dxkit train --out DIR`" in result.stderr


def test_other_interfaces_are_served_with_a_tls_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With keys configured every patient route needs a token, so 0.0.0.0 is allowed."""
    pem = tmp_path / "idp.pem"
    pem.write_text(devkeys.DevKey.generate().public_pem)
    for name, value in {
        "DXKIT_HOME": str(tmp_path),
        "DXKIT_JWT_PUBLIC_KEY_FILE": str(pem),
        "DXKIT_JWT_ISSUER": "https://idp.example.org",
        "DXKIT_PATIENT_KEY_SECRET": "cli-serve-test-secret-0123456789",
    }.items():
        monkeypatch.setenv(name, value)
    served: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server: served.append(server.config))
    # Its stderr handler would outlive the runner's captured stream: caplog is enough.
    monkeypatch.setattr("dxkit.cli_serve.configure_logging", lambda level: None)
    cli = typer.Typer()
    cli.command("noop")(lambda: None)  # typer runs a lone command without its name
    register(cli)
    with caplog.at_level(logging.WARNING, logger="dxkit"):
        result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0, result.output
    [config] = served
    assert (config.host, config.port) == ("0.0.0.0", 8123)
    assert "put a TLS reverse proxy in front" in caplog.text
