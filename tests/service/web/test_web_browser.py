"""End-to-end: the page in the system Chromium against the app under real uvicorn.

A tiny TF-IDF model is trained here on the synthetic cohort of the test knowledge base,
with one label renamed to Anaphylaxis (an emergency in the real knowledge base) and a
conformal predictor wide enough that an emergency can sit in the set below the top
answer, which is when the service abstains. Screenshots of the main states go to
``$DXKIT_SCREENSHOTS`` (default: this run's temporary directory; the path is printed),
never into the repository. Skipped with a reason without Playwright or
``/usr/bin/chromium``; no browser is ever downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dxkit.calibrate.conformal import ConformalPredictor
from dxkit.calibrate.temperature import CalibratedModel
from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.models.base import DiagnosisModel
from dxkit.models.tfidf import TfidfConfig, TfidfModel

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not CHROMIUM.is_file():
    pytest.skip(
        f"no system Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True
    )

CONFIDENT = "Itchy rash and itching all over since this morning."  # Anaphylaxis, no doubt
UNSURE = "Fever, cough and shortness of breath."  # a man of 60: anaphylaxis in the set
TIMEOUT_MS = 15_000


def browser_model(kb: KnowledgeBase) -> DiagnosisModel:
    cohort = CohortGenerator(CohortConfig(n=90, seed=0), kb).generate()
    rename = {"Eczema": "Anaphylaxis"}
    model = TfidfModel(TfidfConfig()).fit(
        [lc.case for lc in cohort], [rename.get(lc.label, lc.label) for lc in cohort]
    )
    conformal = ConformalPredictor(alpha=0.1, threshold=0.9)
    return CalibratedModel(model, 1.0, {}, conformal)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def trained(tiny_kb: KnowledgeBase) -> DiagnosisModel:
    return browser_model(tiny_kb)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("DXKIT_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the web page: {folder}")
    return folder


@pytest.fixture()
def site(
    make_web_app: Callable[..., Any],
    trained: DiagnosisModel,
    live_server: Callable[[Any], str],
) -> str:
    """A fresh app (own database) under uvicorn on 127.0.0.1, in dev mode like `serve`."""
    app = make_web_app(trained, dev_mode=True, max_body_bytes=16 * 1024, evidence=3)
    return live_server(app)


@pytest.fixture()
def page(browser: Any, site: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.console_messages = []
    tab.on("console", lambda message: tab.console_messages.append(message.text))
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(site)
    yield tab
    context.close()
    assert errors == [], "the page raised script errors"
    assert not any("Content Security Policy" in m for m in tab.console_messages)


def log_in(page: Any, token: str) -> None:
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#view-case:not([hidden])")
    page.wait_for_selector(".obs-row select.obs-name option >> nth=5", state="attached")


def add_observation(page: Any, row: int, key: str, value: str, unit: str | None = None) -> None:
    rows = page.locator(".obs-row")
    while rows.count() <= row:
        page.click("#add-obs")
    target = rows.nth(row)
    target.locator(".obs-name").select_option(key)
    if unit is not None:
        target.locator(".obs-unit").select_option(unit)
    target.locator(".obs-value").fill(value)


def diagnose(page: Any, notes: str, age: str = "34", sex: str = "female") -> None:
    page.fill("#notes", notes)
    page.fill("#age", age)
    page.select_option("#sex", sex)
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden]) .condition")


def test_differential_feedback_and_dashboard(
    page: Any, token_auth: Callable[..., Any], new_token: Callable[[Any], str], shots: Path
) -> None:
    log_in(page, new_token(token_auth(patient="p-1")))
    assert page.locator("#patient").input_value() == "p-1"
    add_observation(page, 0, "heart_rate", "128")
    assert "above normal" in page.locator(".obs-row").first.inner_text()
    assert "abnormal" in (page.locator(".obs-row").first.get_attribute("class") or "")
    add_observation(page, 1, "temperature", "99.1", unit="[degF]")
    assert "normal range" in page.locator(".obs-row").nth(1).inner_text()
    diagnose(page, CONFIDENT)
    assert page.evaluate("document.activeElement.id") == "result-title"
    first = page.locator(".condition").first
    assert "Anaphylaxis" in first.inner_text() and "in set" in first.inner_text()
    assert page.locator("#abstain").is_hidden()
    assert "90% confidence" in page.inner_text("#conformal")
    assert "NEWS2" in page.inner_text("#triage")
    marks = page.locator("#note-highlight mark.for")
    assert marks.count() >= 1 and marks.first.inner_text().lower() in CONFIDENT.lower()
    page.screenshot(path=str(shots / "differential.png"), full_page=True)
    first.get_by_role("button", name="Confirm Anaphylaxis").click()
    page.wait_for_selector("text=Feedback recorded: confirmed")
    page.click(".tab[data-view=dashboard]")
    sync_api.expect(page.locator("#tile-accuracy")).to_have_text("100%")
    assert "verdicts: 1" in page.inner_text("#tile-judged")
    assert page.locator("#chart-accuracy svg rect").count() >= 2
    assert page.locator("#chart-days svg rect").count() >= 1
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    page.click(".tab[data-view=history]")
    page.wait_for_selector("#history-table tbody tr td >> text=Anaphylaxis")
    page.screenshot(path=str(shots / "history.png"), full_page=True)
    # no patient data in the URL, browser storage or console; the cookie is HttpOnly
    assert page.url.rstrip("/") == page.url.split("?")[0].rstrip("/")
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert not any("rash" in m.lower() for m in page.console_messages)
    cookies = page.context.cookies()
    assert [c["httpOnly"] for c in cookies] == [True] and cookies[0]["sameSite"] == "Strict"
    # a confidence the model's calibration did not keep: the server's 422 is shown
    page.click(".tab[data-view=case]")
    page.select_option("#confidence", "0.95")
    page.click("#submit")
    sync_api.expect(page.locator("#form-error")).to_contain_text("only level")


def test_an_unsure_case_shows_the_refer_banner(
    page: Any, token_auth: Callable[..., Any], new_token: Callable[[Any], str], shots: Path
) -> None:
    log_in(page, new_token(token_auth(patient="p-1")))
    diagnose(page, UNSURE, age="60", sex="male")
    banner = page.locator("#abstain")
    assert banner.is_visible() and banner.get_attribute("role") == "alert"
    assert "Refer to a clinician" in banner.inner_text()
    assert "Anaphylaxis" in banner.inner_text()
    page.screenshot(path=str(shots / "abstain.png"), full_page=True)


def test_form_errors_are_shown_next_to_their_fields(
    page: Any, token_auth: Callable[..., Any], new_token: Callable[[Any], str], shots: Path
) -> None:
    log_in(page, new_token(token_auth(patient="p-1")))
    page.fill("#notes", "fever")
    page.fill("#age", "200")
    add_observation(page, 0, "heart_rate", "900")
    page.click("#submit")
    assert "0 to 125" in page.inner_text("#age-error")
    assert page.get_attribute("#age", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "age"
    assert "not a possible heart rate" in page.locator(".obs-row .field-error").inner_text()
    assert page.locator("#result").is_hidden()  # nothing was sent
    page.screenshot(path=str(shots / "form-errors.png"), full_page=True)
    # a refusal only the server can make (body over its limit) is shown, not a blank page
    page.fill("#age", "40")
    page.locator(".obs-row .obs-value").fill("80")
    page.fill("#notes", "cough " * 4000)
    page.click("#submit")
    page.wait_for_selector("#form-error >> text=HTTP 413")
    assert "What to do" in page.inner_text("#form-error")
    assert page.locator("#view-case").is_visible()


def test_language_switch_and_keyboard_only_use(
    page: Any, token_auth: Callable[..., Any], new_token: Callable[[Any], str], shots: Path
) -> None:
    page.focus("#token")
    page.keyboard.insert_text(new_token(token_auth(patient="p-1")))
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-case:not([hidden])")
    page.fill("#notes", CONFIDENT)
    for _ in range(60):  # Tab from the notes through the form reaches the submit button
        if page.evaluate("document.activeElement.id") == "submit":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "submit"
    page.keyboard.press("Enter")
    page.wait_for_selector("#result:not([hidden]) .condition")
    page.click("#lang")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.inner_text("#case-title") == "新病例"
    assert page.inner_text("#result-title") == "鉴别诊断"
    assert "确认" in page.locator(".condition").first.inner_text()
    page.locator(".obs-row .obs-name").first.select_option("heart_rate")
    assert "心率" in page.locator(".obs-row .obs-name").first.inner_text()
    page.screenshot(path=str(shots / "chinese.png"), full_page=True)
    page.click("#lang")
    assert page.inner_text("#case-title") == "New case"


def test_phone_width_has_no_sideways_scrolling(
    browser: Any, site: str, token_auth: Callable[..., Any], new_token: Callable[[Any], str],
    shots: Path,
) -> None:  # fmt: skip
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    phone.set_default_timeout(TIMEOUT_MS)
    phone.goto(site)
    log_in(phone, new_token(token_auth(patient="p-1")))
    add_observation(phone, 0, "spo2", "91")
    diagnose(phone, CONFIDENT)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(shots / "phone.png"), full_page=True)
    context.close()
