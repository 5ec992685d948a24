"""The JSON API in-process (Starlette's test client): token and name checks, idempotent submits, leases by server."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from foundry.review.events import EventLog
from foundry.review.output import open_output
from foundry.review.server import ReviewService, create_app

TOKEN = "test-token-123"


@pytest.fixture
def client(campaign_output, tmp_path):
    out, _ = campaign_output
    service = ReviewService(open_output(str(out)), EventLog(tmp_path / "r.sqlite"), "all", 2)
    with TestClient(create_app(service, TOKEN)) as client:
        yield client, service


def headers(name="ann", token=TOKEN):
    return {"X-Review-Token": token, "X-Reviewer": name}


def test_page_and_script_are_served_with_a_strict_policy(client):
    http, _ = client
    page = http.get("/")
    assert page.status_code == 200 and '<script src="/review.js">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert http.get("/review.js").headers["content-type"].startswith("text/javascript")


def test_token_and_name_are_required(client):
    http, _ = client
    assert http.get("/api/next", headers=headers(token="wrong")).status_code == 401
    assert http.get("/api/next", headers=headers(name="<b>x</b>")).status_code == 401
    assert http.get("/api/next", headers={"X-Reviewer": "ann"}).status_code == 401


def test_item_holds_sanitized_html_and_suggestions_apart(client):
    http, _ = client
    item = http.get("/api/next", headers=headers()).json()["item"]
    assert item["sample_id"] and item["queue"] == "all"
    assert [s["text"][:2] for s in item["steps"]] == ["1.", "2.", "3."]
    assert {v["verifier"] for v in item["suggestions"]["verdicts"]} == {"sections", "math"}
    hostile = [http.get("/api/next", headers=headers(f"r{i}")).json()["item"] for i in range(20)]
    xss = next(i for i in [item, *hostile] if i and "__xss" in i["answer"])
    assert "<script" not in xss["answer_html"] and "<img" not in xss["answer_html"]
    assert "&lt;script&gt;" in xss["answer_html"]  # visible as text
    assert "<script>" in xss["answer"]  # the raw text only ever goes into a textarea's value


def test_submit_is_idempotent_and_needs_the_lease(client):
    http, service = client
    item = http.get("/api/next", headers=headers()).json()["item"]
    body = {"key": "aaaaaaaa-0001", "item_id": item["item_id"], "kind": "reject", "reason": "format"}
    first = http.post("/api/submit", headers=headers(), json=body).json()
    again = http.post("/api/submit", headers=headers(), json=body).json()
    assert first == {"seq": 1, "duplicate": False} and again == {"seq": 1, "duplicate": True}
    other = http.post("/api/submit", headers=headers("bob"), json={**body, "key": "bbbbbbbb-0001"})
    assert other.status_code == 409 and "no live lease" in other.json()["error"]
    assert len(service.log.events()) == 1


@pytest.mark.parametrize("change, message", [
    ({"kind": "reject"}, "reason"),
    ({"kind": "explode"}, "kind"),
    ({"key": "short"}, "key"),
    ({"kind": "accept", "step_ratings": {"0": "great"}}, "step_ratings"),
    ({"kind": "correct", "answer": "  "}, "answer"),
])
def test_bad_submissions_are_refused_with_a_reason(client, change, message):
    http, service = client
    item = http.get("/api/next", headers=headers()).json()["item"]
    body = {"key": "cccccccc-0001", "item_id": item["item_id"], **change}
    response = http.post("/api/submit", headers=headers(), json=body)
    assert response.status_code == 409 and message in response.json()["error"]
    assert service.log.events() == []


def test_correction_is_verified_once_even_when_retried(client):
    http, service = client
    item = http.get("/api/next", headers=headers()).json()["item"]
    body = {"key": "dddddddd-0001", "item_id": item["item_id"], "kind": "correct", "answer": "\\boxed{99}"}
    first = http.post("/api/submit", headers=headers(), json=body).json()
    again = http.post("/api/submit", headers=headers(), json=body).json()
    assert first["corrected_id"] == again["corrected_id"] and again["duplicate"] is True
    assert first["corrected_accepted"] is False  # 99 is no task's answer here
    assert [e.kind for e in service.log.events()] == ["correct"]


def test_undo_returns_the_item(client):
    http, _ = client
    item = http.get("/api/next", headers=headers()).json()["item"]
    http.post("/api/submit", headers=headers(), json={"key": "eeeeeeee-0001", "item_id": item["item_id"],
                                                      "kind": "accept"})
    assert http.get("/api/next", headers=headers()).json()["item"]["item_id"] != item["item_id"]
    undone = http.post("/api/undo", headers=headers(), json={"key": "eeeeeeee-0002"}).json()
    assert undone["item_id"] == item["item_id"]
    assert http.get("/api/next", headers=headers()).json()["item"]["item_id"] == item["item_id"]
