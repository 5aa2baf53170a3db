"""The request layer (app/edge.py): every endpoint, fast or Flask, gets the same treatment."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from werkzeug.test import EnvironBuilder

from app.edge import Edge
from app.telemetry import OWN_HEAD, SERVED_BY
from tests.helpers import Player, error_code

SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def requests(client: FlaskClient, ann: Player) -> dict[str, Any]:
    """One response from each kind of endpoint, keyed by what answered it."""
    client.get("/healthz")  # starts the services: the fast handlers answer from here on
    return {
        "flask page": client.get("/"),
        "flask api": client.get("/api/v1/leaderboard?limit=5"),
        "fast board": client.get("/api/v1/leaderboard"),
        "fast submit": ann.submit(ann.action_token()),
        "fast refusal": ann.submit("garbage"),
        "flask error": client.post("/api/v1/scores", json={"action_token": "x"}),
        "api 404": client.get("/api/v1/nowhere"),
        "page 404": client.get("/nowhere", headers={"Accept": "text/html"}),
        "405": client.delete("/api/v1/leaderboard"),
        "health": client.get("/healthz"),
    }


def test_every_endpoint_gets_the_request_id_the_server_and_the_security_headers(
    app: Flask, client: FlaskClient, mode: str
) -> None:
    for name, r in requests(client, Player(client)).items():
        assert len(r.headers["X-Request-ID"]) == 16, name
        assert r.headers["X-Served-By"] == SERVED_BY, name
        assert r.headers["X-Frame-Options"] == "DENY", name
        assert r.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'"), name
        assert {k: r.headers[k] for k in SECURITY} == SECURITY, name
        # production mode: HSTS on every response; embedded over plain HTTP: none (SPEC §11)
        assert ("Strict-Transport-Security" in r.headers) == (mode == "production"), name
        assert r.headers.getlist("X-Request-ID") == [r.headers["X-Request-ID"]], name


def test_a_crash_answered_by_flask_still_gets_the_headers(app: Flask, client: FlaskClient) -> None:
    def crash() -> None:
        raise RuntimeError("boom")

    app.view_functions["meta.healthz"] = crash
    r = client.get("/healthz", headers={"X-Request-ID": "crash-1"})
    assert r.status_code == 500 and error_code(r) == "INTERNAL"
    assert r.headers["X-Request-ID"] == "crash-1" and r.headers["X-Served-By"] == SERVED_BY
    assert r.headers["X-Frame-Options"] == "DENY"


def test_hsts_over_https_on_fast_and_flask_paths(client: FlaskClient) -> None:
    client.get("/healthz")
    for path in ("/api/v1/leaderboard", "/api/v1/leaderboard?limit=5", "/"):
        r = client.get(path, base_url="https://localhost")
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains", path


def test_only_the_widget_may_be_framed(make_app: Any) -> None:
    client = make_app(WIDGET_FRAME_ANCESTORS="https://example.com").test_client()
    widget = client.get("/widget")
    assert widget.headers["Content-Security-Policy"].endswith("frame-ancestors https://example.com")
    assert "X-Frame-Options" not in widget.headers
    assert client.get("/").headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-1", True),
        ("a" * 64, True),
        ("3f2c:7d/x+y=@.", True),
        ("a" * 65, False),
        ("a b", False),
        ("", False),
    ],
)
def test_a_sane_request_id_is_kept_and_any_other_replaced(client: FlaskClient, sent: str, kept: bool) -> None:
    client.get("/healthz")
    for path in ("/api/v1/leaderboard", "/healthz"):
        got = client.get(path, headers={"X-Request-ID": sent}).headers["X-Request-ID"]
        assert (got == sent) is kept and (kept or len(got) == 16), path


def test_the_address_limit_refuses_fast_and_flask_paths_alike(make_app: Any) -> None:
    client = make_app(RATELIMIT_API_PER_IP="3/minute").test_client()
    ann = Player(client)  # registered from the default address
    mine = {"REMOTE_ADDR": "198.51.100.7"}
    client.get("/healthz", environ_base=mine)  # not counted
    for path in ("/api/v1/leaderboard", "/api/v1/leaderboard?limit=5", "/api/v1/nowhere"):
        assert client.get(path, environ_base=mine).status_code in (200, 404)
    fast = client.get("/api/v1/leaderboard", environ_base=mine, headers={"X-Request-ID": "r"})
    view = client.get("/api/v1/leaderboard?limit=5", environ_base=mine, headers={"X-Request-ID": "r"})
    submit = ann.client.post(
        "/api/v1/scores", json={"action_token": "x"}, headers=ann.auth, environ_base=mine
    )
    for r in (fast, view, submit):
        assert r.status_code == 429 and error_code(r) == "RATE_LIMITED"
    assert (fast.data, sorted(fast.headers.items())) == (view.data, sorted(view.headers.items()))
    assert 1 <= int(fast.headers["Retry-After"]) <= 60
    assert client.get("/healthz", environ_base=mine).status_code == 200  # outside /api/v1
    assert client.get("/", environ_base=mine).status_code == 200


def count(endpoint: str, status: int, method: str = "GET") -> float:
    labels = {"method": method, "endpoint": endpoint, "status": str(status)}
    return REGISTRY.get_sample_value("scoreboard_http_requests_total", labels) or 0.0


def observed(endpoint: str) -> float:
    return REGISTRY.get_sample_value("scoreboard_http_request_seconds_count", {"endpoint": endpoint}) or 0.0


def submissions(outcome: str, reason: str) -> float:
    labels = {"outcome": outcome, "reason": reason}
    return REGISTRY.get_sample_value("scoreboard_score_submissions_total", labels) or 0.0


def test_request_metrics_count_fast_and_flask_paths_by_endpoint(client: FlaskClient) -> None:
    ann = Player(client)
    token = ann.action_token()
    keys = [
        ("api.leaderboard", 200, "GET"),
        ("api.submit_score", 200, "POST"),
        ("api.submit_score", 400, "POST"),
        ("meta.healthz", 200, "GET"),
        ("none", 404, "GET"),
    ]
    before = [count(e, s, m) for e, s, m in keys]
    seen, accepted, invalid = (
        observed("api.leaderboard"),
        submissions("accepted", ""),
        submissions("rejected", "TOKEN_INVALID"),
    )
    client.get("/api/v1/leaderboard")
    client.get("/api/v1/leaderboard?limit=5")
    assert ann.submit(token).status_code == 200
    assert ann.submit("garbage").status_code == 400
    unsigned = client.post("/api/v1/scores", json={"action_token": "garbage"})  # through Flask
    assert unsigned.status_code == 401
    client.get("/healthz")
    client.get("/api/v1/nowhere")
    after = [count(e, s, m) for e, s, m in keys]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1, 1, 1]
    assert observed("api.leaderboard") - seen == 2
    assert submissions("accepted", "") - accepted == 1
    assert submissions("rejected", "TOKEN_INVALID") - invalid == 1


def test_a_refusal_made_by_the_layer_is_counted_under_its_endpoint(make_app: Any) -> None:
    client = make_app(RATELIMIT_API_PER_IP="1/minute").test_client()
    client.get("/healthz")
    before = count("api.leaderboard", 429), count("api.me", 429)
    client.get("/api/v1/leaderboard")
    client.get("/api/v1/leaderboard")
    client.get("/api/v1/me")
    assert (count("api.leaderboard", 429) - before[0], count("api.me", 429) - before[1]) == (1, 1)


def test_a_websocket_taking_the_connection_over_is_counted_and_passed_on(app: Flask, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    edge = app.wsgi_app
    assert isinstance(edge, Edge)

    def takes_over(environ: dict[str, Any], start_response: Any) -> Any:
        raise StopIteration  # what flask-sock raises under gunicorn once the socket is done

    monkeypatch.setattr(edge, "flask", takes_over)
    before = count("live.scoreboard_ws", 101)
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket"}
    with pytest.raises(StopIteration):
        edge(EnvironBuilder(path="/ws/scoreboard", headers=upgrade).get_environ(), lambda *a: None)
    assert count("live.scoreboard_ws", 101) - before == 1


def test_a_response_writing_its_own_head_gets_the_headers_and_is_counted(app: Flask, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    edge = app.wsgi_app
    assert isinstance(edge, Edge)
    written: list[list[tuple[str, str]]] = []

    def takes_over(environ: dict[str, Any], start_response: Any) -> Any:
        written.append(environ[OWN_HEAD]("200 OK", [("Content-Type", "text/event-stream")]))
        raise StopIteration  # as SseResponse does under gunicorn once the stream is over

    monkeypatch.setattr(edge, "flask", takes_over)
    before = count("none", 200), count("none", 101)
    with pytest.raises(StopIteration):
        edge(EnvironBuilder(path="/events/scoreboard").get_environ(), lambda *a: None)
    headers = dict(written[0])
    assert headers["X-Served-By"] == SERVED_BY and headers["X-Content-Type-Options"] == "nosniff"
    assert (count("none", 200) - before[0], count("none", 101) - before[1]) == (1, 0)
