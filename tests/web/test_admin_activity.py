"""GET /admin/activity: submits per minute over the last hour, for a signed-in admin, counted on
both paths a submit takes (the fast path before Flask and the Flask view). Both run modes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.edge import Edge
from tests.helpers import Player, admin_player, error_code
from tests.web.test_admin_page import sign_in


def minute_of(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds // 60 * 60, UTC)


def read(browser: FlaskClient) -> list[dict[str, Any]]:
    r = browser.get("/admin/activity")
    assert r.status_code == 200 and r.mimetype == "application/json", r.get_data(as_text=True)[:500]
    assert r.headers["Cache-Control"] == "no-store"
    return r.get_json()["minutes"]


def totals(minutes: list[dict[str, Any]]) -> tuple[int, int]:
    return sum(m["accepted"] for m in minutes), sum(m["rejected"] for m in minutes)


def test_the_last_hour_counts_submits_on_both_paths(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = app.wsgi_app
    assert isinstance(edge, Edge)
    boss = admin_player(app, client)
    browser = app.test_client()
    sign_in(browser, boss)
    assert totals(read(browser)) == (0, 0)

    ann = Player(client, "ann")
    flask_calls: list[str] = []
    inner = edge.flask

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        flask_calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(edge, "flask", counting)
    before = time.time()
    ann.score(2)  # the fast path
    assert ann.submit("garbage").status_code == 400
    assert "/api/v1/scores" not in flask_calls
    with monkeypatch.context() as m:
        m.setattr(edge.fast, "route", lambda environ: None)  # the same requests, through Flask
        ann.score(1)
        refused = ann.submit("garbage")
        assert error_code(refused) == "TOKEN_INVALID"
        assert refused.status_code == 400
        unsigned = client.post("/api/v1/scores", json={"action_token": "x"})
        assert unsigned.status_code == 401
    assert flask_calls.count("/api/v1/scores") == 3

    minutes = read(browser)
    after = time.time()
    assert totals(minutes) == (3, 3)
    assert len(minutes) == 60
    assert [set(m) for m in minutes] == [{"at", "accepted", "rejected"}] * 60
    starts = [datetime.fromisoformat(m["at"].replace("Z", "+00:00")) for m in minutes]
    assert all(m["at"].endswith(":00.000Z") for m in minutes)
    assert [b - a for a, b in zip(starts, starts[1:], strict=False)] == [timedelta(minutes=1)] * 59
    assert starts[-1] in (minute_of(before), minute_of(after))  # the running minute last
    counted = [m for m in minutes if m["accepted"] or m["rejected"]]
    assert {datetime.fromisoformat(m["at"].replace("Z", "+00:00")) for m in counted} <= {
        minute_of(before),
        minute_of(after),
    }


def test_only_a_signed_in_admin_reads_it(app: Flask, client: FlaskClient) -> None:
    anonymous = app.test_client().get("/admin/activity")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    ann = Player(client, "ann")
    player = app.test_client()
    sign_in(player, ann)
    assert player.get("/admin/activity").status_code == 403
