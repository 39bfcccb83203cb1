"""The page's files and its read endpoints: CSP, catalogue, history, dashboard, access."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dxkit.quality.catalogue import catalogue_by_key

NEW_ROUTES = ["/v1/cases", "/v1/dashboard", "/v1/observations/catalogue"]


@pytest.fixture()
def client(make_web_app: Callable[..., Any]) -> Iterator[TestClient]:
    with TestClient(make_web_app()) as test_client:
        yield test_client


def diagnose(client: TestClient, auth: Any, patient: str | None, notes: str = "cough") -> str:
    case = {"case_id": "x", "patient_id": patient, "age": 95, "notes": notes}
    response = client.post("/v1/diagnose", json=case, auth=auth)
    assert response.status_code == 200, response.text
    prediction_id: str = response.json()["stored"]["prediction_id"]
    return prediction_id


def test_the_page_is_served_with_a_strict_content_security_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in page.text and 'src="/static/app.js"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere


SCRIPTS = ["app.js", "core.js", "answer.js", "views.js", "i18n.js", "charts.js"]


@pytest.mark.parametrize("name", [*SCRIPTS, "app.css"])
def test_the_page_files_are_served_with_their_types(client: TestClient, name: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert ("css" if name.endswith("css") else "javascript") in response.headers["content-type"]


@pytest.mark.parametrize("name", ["__init__.py", "..%2Fapp.py", "index.html", "nope.js"])
def test_only_the_listed_files_are_served(client: TestClient, name: str) -> None:
    assert client.get(f"/static/{name}").status_code == 404


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_scripts_never_log_or_store_anything(client: TestClient, name: str) -> None:
    lines = client.get(f"/static/{name}").text.splitlines()
    code = "\n".join(line for line in lines if not line.strip().startswith("//"))
    for forbidden in ("console.", "localStorage", "sessionStorage", "document.cookie"):
        assert forbidden not in code


@pytest.mark.parametrize("path", NEW_ROUTES)
def test_new_routes_need_a_clinician(
    client: TestClient, token_auth: Callable[..., Any], path: str
) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, auth=token_auth(scopes=())).status_code == 403
    assert client.get(path, auth=token_auth()).status_code == 200


def test_the_catalogue_is_the_services_own(
    client: TestClient, token_auth: Callable[..., Any]
) -> None:
    entries = {e["key"]: e for e in client.get(NEW_ROUTES[2], auth=token_auth()).json()}
    assert entries.keys() == catalogue_by_key().keys()
    temperature = entries["temperature"]
    assert temperature["loinc"] == "8310-5" and temperature["name_zh"] == "体温"
    assert temperature["units"][0] == {"unit": "Cel", "factor": 1.0, "offset": 0.0}
    fahrenheit = next(u for u in temperature["units"] if u["unit"] == "[degF]")
    assert round(101.3 * fahrenheit["factor"] + fahrenheit["offset"], 1) == 38.5
    assert temperature["plausible"] == [25.0, 45.0]


def test_history_shows_only_the_callers_patients_newest_first_without_text(
    client: TestClient, token_auth: Callable[..., Any]
) -> None:
    first = diagnose(client, token_auth(patient="p-1"), "p-1", "secret words")
    second = diagnose(client, token_auth(patient="p-1"), "p-1")
    diagnose(client, token_auth(patient="p-2"), "p-2")
    diagnose(client, token_auth(), None)
    page = client.get("/v1/cases?limit=1", auth=token_auth(patient="p-1")).json()
    assert page["total"] == 2 and [i["prediction_id"] for i in page["items"]] == [second]
    older = client.get("/v1/cases?limit=1&offset=1", auth=token_auth(patient="p-1")).json()
    assert [i["prediction_id"] for i in older["items"]] == [first]
    item = older["items"][0]
    assert item["age"] == "90+" and item["top_condition"] and item["feedback"] == 0
    assert "secret" not in str(older) and "p-1" not in str(older)
    everything = client.get("/v1/cases", auth=token_auth(scopes=("admin",))).json()
    assert everything["total"] == 4


def test_dashboard_counts_feedback_and_abstentions_of_visible_cases(
    client: TestClient, token_auth: Callable[..., Any]
) -> None:
    auth = token_auth(patient="p-1")
    empty = client.get("/v1/dashboard", auth=auth).json()
    assert empty["predictions"] == 0 and empty["accuracy"] is None
    assert empty["abstention_rate"] is None
    mine = diagnose(client, auth, "p-1")
    other = diagnose(client, token_auth(patient="p-2"), "p-2")
    top = "Community-acquired pneumonia"
    for prediction, verdict, who in [(mine, "confirmed", auth), (other, "rejected", "p-2")]:
        caller = token_auth(patient=who) if isinstance(who, str) else who
        body = {"prediction_id": prediction, "verdict": verdict}
        assert client.post("/v1/feedback", json=body, auth=caller).status_code == 201
    board = client.get("/v1/dashboard?days=7", auth=auth).json()
    assert board["predictions"] == 1 and board["abstained"] == 0
    assert board["abstention_rate"] == 0.0
    assert (board["confirmed"], board["rejected"], board["accuracy"]) == (1, 0, 1.0)
    assert board["by_condition"] == [
        {"condition": top, "confirmed": 1, "rejected": 0, "accuracy": 1.0}
    ]
    assert [d["counts"] for d in board["per_day"]] == [{top: 1}]
    admin = client.get("/v1/dashboard", auth=token_auth(scopes=("admin",))).json()
    assert admin["predictions"] == 2 and admin["accuracy"] == 0.5
    listed = client.get("/v1/cases", auth=auth).json()["items"][0]
    assert listed["feedback"] == 1


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "limit=x"])
def test_bad_paging_is_a_422(
    client: TestClient, token_auth: Callable[..., Any], query: str
) -> None:
    response = client.get(f"/v1/cases?{query}", auth=token_auth())
    assert response.status_code == 422
    assert response.json()["error"]["what"] == "request validation failed"
