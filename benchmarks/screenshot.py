"""Screenshot of the clinician web page showing a differential, for the README.

Not a test: it starts the real app under uvicorn on 127.0.0.1 (dev-mode cookies, an
in-memory database, a signing key made for the run), logs in through the page with a
fresh token, enters an example case and saves the 1280x800 viewport as a palette PNG
(small enough to commit). Uses the default model unless ``--model``; drives the system
Chromium (``/usr/bin/chromium``), never a downloaded browser.

    python benchmarks/screenshot.py                      # writes docs/screenshot.png
    python benchmarks/screenshot.py --out /tmp/page.png --model path/to/model
"""

from __future__ import annotations

import argparse
import io
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ISSUER, AUDIENCE = "https://idp.screenshot.example", "dxkit"
NOTES = (
    "Crushing central chest pain for 40 minutes radiating to the left arm, sweaty and "
    "nauseous. Smoker, known hypertension."
)
OBSERVATIONS = [("heart_rate", "104"), ("systolic_bp", "152"), ("spo2", "96")]
MAX_BYTES = 200 * 1024


def serve(app: Any) -> tuple[str, Any]:
    """Run ``app`` under uvicorn in a thread; its URL and the server (to stop it)."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def build_app(model_dir: Path | None) -> tuple[Any, str]:
    """The app with its own signing key, and one clinician token for patient p-1."""
    from dxkit.models.base import load_model
    from dxkit.models.default import load_default_model
    from dxkit.service import devkeys
    from dxkit.service.app import build_detector, create_app
    from dxkit.service.auth import AuthConfig, Authenticator
    from dxkit.service.settings import ServiceSettings

    secret = secrets.token_hex(32)
    key = devkeys.DevKey.generate()
    auth = Authenticator(AuthConfig((key.verify_key,), ISSUER, AUDIENCE, secret))
    settings = ServiceSettings(
        database_url="sqlite://", patient_key_secret=secret, dev_mode=True, evidence=3
    )
    model = load_model(model_dir) if model_dir else load_default_model()
    app = create_app(settings, model=model, detector=build_detector(), authenticator=auth)
    token = devkeys.dev_token(["clinician"], "p-1", key, issuer=ISSUER, audience=AUDIENCE)
    return app, token


def shoot(url: str, token: str) -> bytes:
    """Log in, enter the example case, and return the viewport as PNG bytes."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.fill("#token", token)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#view-case:not([hidden])")
        page.fill("#notes", NOTES)
        page.fill("#age", "67")
        page.select_option("#sex", "male")
        for index, (key, value) in enumerate(OBSERVATIONS):
            if index:
                page.click("#add-obs")
            row = page.locator(".obs-row").nth(index)
            row.locator(".obs-name").select_option(key)
            row.locator(".obs-value").fill(value)
        page.click("#submit")
        page.wait_for_selector("#result:not([hidden]) .condition")
        page.wait_for_timeout(300)  # let the focus scroll settle, then show the page's top
        page.evaluate("window.scrollTo(0, 0)")  # form and answer sit side by side at 1280 px
        png = page.screenshot()
        browser.close()
    return png


def compress(png: bytes) -> bytes:
    """The same image with a 128-colour palette: a UI screenshot barely changes."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    parser.add_argument("--model", type=Path, default=None, help="saved model directory")
    args = parser.parse_args()
    app, token = build_app(args.model)
    url, server = serve(app)
    try:
        data = compress(shoot(url, token))
    finally:
        server.should_exit = True
    if len(data) > MAX_BYTES:
        raise SystemExit(f"screenshot is {len(data)} bytes, over {MAX_BYTES}: not written")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data) // 1024} KiB)")


if __name__ == "__main__":
    main()
