"""The scoring pipeline of SPEC §5 through the API, in both run modes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from flask import Flask
from sqlalchemy import func, select, text

from app.audit import Origin
from app.edge import Edge
from app.extensions import db
from app.models import AuditLog, FraudFlag, ScoreEvent, User
from app.scoring.ledger import Change, accepted_action
from app.services import services
from tests.helpers import Player, error_code


def scalar(app: Flask, stmt: Any) -> Any:
    with app.app_context():
        return db.session.execute(stmt).scalar()


def audit_reasons(app: Flask, user_id: int, event: str = "score.rejected") -> list[str]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditLog.reason_code)
            .where(AuditLog.subject_user_id == user_id, AuditLog.event == event)
            .order_by(AuditLog.id)
        )
        return [r[0] for r in rows]


def test_action_then_submit_scores_points_from_the_catalog(app: Flask, client) -> None:
    ann = Player(client)
    token = ann.action_token()
    r = ann.submit(token)
    assert r.status_code == 200
    data = r.get_json()["data"]
    assert data["points"] == 10 and data["new_score"] == 10
    assert data["rank"] == 1 and data["previous_rank"] is None
    assert data["user_id"] == ann.id and data["username"] == ann.username
    assert data["action_type"] == "complete_task" and data["action_id"]
    assert data["next_action_token"] and data["next_action_expires_in"] == 60
    assert scalar(app, select(User.score).where(User.id == ann.id)) == 10
    assert scalar(app, select(func.count()).select_from(ScoreEvent)) == 1
    assert audit_reasons(app, ann.id, "score.accepted") == [None]


def test_next_action_token_scores_without_a_second_request(client) -> None:
    ann = Player(client)
    data = ann.score(times=3)
    assert data["new_score"] == 30


def test_a_token_is_single_use(app: Flask, client) -> None:
    ann = Player(client)
    token = ann.action_token()
    assert ann.submit(token).status_code == 200
    replay = ann.submit(token)
    assert replay.status_code == 409 and error_code(replay) == "TOKEN_ALREADY_USED"
    assert scalar(app, select(User.score).where(User.id == ann.id)) == 10
    assert audit_reasons(app, ann.id) == ["TOKEN_ALREADY_USED"]


def test_twenty_concurrent_submits_of_one_token_score_once(app: Flask) -> None:
    ann = Player(app.test_client())
    token = ann.action_token()
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def submit() -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post("/api/v1/scores", json={"action_token": token}, headers=ann.auth)
        statuses.append(r.status_code)

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 19
    assert scalar(app, select(User.score).where(User.id == ann.id)) == 10
    assert scalar(app, select(func.count()).select_from(ScoreEvent)) == 1


def test_another_players_token_is_refused_and_not_burnt(client) -> None:
    ann, bob = Player(client), Player(client)
    token = ann.action_token()
    r = bob.submit(token)
    assert r.status_code == 403 and error_code(r) == "TOKEN_USER_MISMATCH"
    assert ann.submit(token).status_code == 200


def test_tampered_token_is_refused_flagged_and_suspends(app: Flask, client) -> None:
    ann = Player(client)
    token = ann.action_token()
    parts = token.split(".")
    parts[4] = ("A" if parts[4][0] != "A" else "B") + parts[4][1:]  # another nonce, same signature
    forged = ".".join(parts)
    r = ann.submit(forged)
    assert r.status_code == 400 and error_code(r) == "TOKEN_INVALID"
    with app.app_context():
        flag = db.session.execute(select(FraudFlag).where(FraudFlag.user_id == ann.id)).scalar_one()
        assert (flag.rule, flag.severity, flag.status) == ("tampered_token", "critical", "open")
    suspended = ann.submit(token)
    assert suspended.status_code == 403 and error_code(suspended) == "ACCOUNT_SUSPENDED"
    assert suspended.get_json()["error"]["retry_after"] > 0
    assert suspended.headers["Retry-After"] == str(suspended.get_json()["error"]["retry_after"])


def test_expired_token_is_refused(make_app) -> None:
    app = make_app(ACTION_TOKEN_TTL=-1)
    ann = Player(app.test_client())
    r = ann.submit(ann.action_token())
    assert r.status_code == 400 and error_code(r) == "TOKEN_EXPIRED"


def test_cooldown_refuses_with_the_wait(client) -> None:
    ann = Player(client)
    assert ann.submit(ann.action_token("slow_task")).status_code == 200
    r = ann.submit(ann.action_token("slow_task"))
    assert r.status_code == 429 and error_code(r) == "COOLDOWN"
    assert 0 < r.get_json()["error"]["retry_after"] <= 60


def test_hourly_cap_is_a_cooldown(client) -> None:
    ann = Player(client)
    ann.score(times=2, action_type="capped_task")
    r = ann.submit(ann.action_token("capped_task"))
    assert r.status_code == 429 and error_code(r) == "COOLDOWN"


def test_unknown_action_type_is_refused(client) -> None:
    ann = Player(client)
    r = ann.post("/api/v1/actions/token", {"action_type": "win_everything"})
    assert r.status_code == 400 and error_code(r) == "INVALID_ACTION"


def test_rate_limit_refuses_counts_every_attempt_and_then_suspends(make_app) -> None:
    app = make_app(
        RATELIMIT_SCORE_PER_USER="2/minute",
        RATELIMIT_TOKEN_PER_USER="100/minute",
        RATELIMIT_API_PER_IP="1000/minute",
    )
    ann = Player(app.test_client())
    tokens = [ann.action_token() for _ in range(5)]
    assert ann.submit(tokens[0]).status_code == 200
    bad = ann.submit("garbage")  # a refused attempt still counts
    assert error_code(bad) == "TOKEN_INVALID"
    codes = [error_code(ann.submit(t)) for t in tokens[1:4]]
    assert codes == ["RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"]  # the third suspends
    r = ann.submit(tokens[4])
    assert r.status_code == 403 and error_code(r) == "ACCOUNT_SUSPENDED"
    assert r.get_json()["error"]["retry_after"] <= 60
    assert audit_reasons(app, ann.id)[-1] == "ACCOUNT_SUSPENDED"


def test_token_limit_makes_next_action_token_null(make_app) -> None:
    app = make_app(RATELIMIT_TOKEN_PER_USER="1/minute", RATELIMIT_SCORE_PER_USER="100/minute")
    ann = Player(app.test_client())
    r = ann.submit(ann.action_token())
    assert r.status_code == 200 and r.get_json()["data"]["next_action_token"] is None
    again = ann.post("/api/v1/actions/token", {"action_type": "complete_task"})
    assert again.status_code == 429 and error_code(again) == "RATE_LIMITED"


def test_banned_player_is_refused_before_anything_else(app: Flask, client) -> None:
    ann = Player(client)
    token = ann.action_token()
    with app.app_context():
        app.extensions["scoreboard"].moderation.ban(None, ann.id, "cheating", None)
    r = ann.submit(token)
    assert r.status_code == 403 and error_code(r) == "ACCOUNT_BANNED"
    with app.app_context():
        app.extensions["scoreboard"].moderation.unban(None, ann.id, "appeal")
    assert ann.submit(token).status_code == 200  # the refusal did not burn the token


def test_every_refusal_is_audited_with_its_reason(app: Flask, client) -> None:
    ann, bob = Player(client), Player(client)
    ann.submit("nonsense")
    ann.submit(bob.action_token())
    assert audit_reasons(app, ann.id) == ["TOKEN_INVALID", "TOKEN_USER_MISMATCH"]


def test_fraud_rules_flag_bursts_velocity_and_big_scores(make_app) -> None:
    app = make_app(
        FRAUD_BURST_COUNT=3,
        FRAUD_BURST_WINDOW=60,
        SUSPICIOUS_VELOCITY_THRESHOLD=35,
        MANUAL_REVIEW_THRESHOLD=45,
        RATELIMIT_FLAGGED_SCORE="1000/minute",
    )
    ann = Player(app.test_client())
    ann.score(times=5)
    with app.app_context():
        rules = dict(
            db.session.execute(
                select(FraudFlag.rule, FraudFlag.severity).where(FraudFlag.user_id == ann.id)
            ).all()
        )
        assert rules == {"burst": "high", "velocity": "medium", "manual_review": "medium"}
        assert db.session.get(User, ann.id).is_flagged


def test_flagged_players_get_the_flagged_limit(make_app) -> None:
    app = make_app(
        FRAUD_BURST_COUNT=1,
        RATELIMIT_FLAGGED_SCORE="1/minute",
        RATELIMIT_SCORE_PER_USER="100/minute",
        RATELIMIT_TOKEN_PER_USER="100/minute",
    )
    ann = Player(app.test_client())
    ann.score(times=2)  # the second accepted action trips the burst rule
    assert ann.submit(ann.action_token()).status_code == 200  # one a minute while flagged
    r = ann.submit(ann.action_token())
    assert r.status_code == 429 and error_code(r) == "RATE_LIMITED"


def test_hidden_player_scores_but_is_not_ranked(app: Flask, client) -> None:
    ann = Player(client)
    ann.post("/api/v1/me", headers={}, json=None)
    assert client.patch("/api/v1/me", json={"is_hidden": True}, headers=ann.auth).status_code == 200
    data = ann.score()
    assert data["new_score"] == 10 and data["rank"] is None
    assert client.get("/api/v1/leaderboard").get_json()["total_players"] == 0


def test_score_events_count_equals_scores(app: Flask, client) -> None:
    players = [Player(client) for _ in range(3)]
    for i, p in enumerate(players):
        p.score(times=i + 1)
    with app.app_context():
        total = db.session.execute(text("SELECT sum(score) FROM users")).scalar()
        events = db.session.execute(text("SELECT sum(points) FROM score_events")).scalar()
    assert total == events == 60


def test_many_accounts_from_one_address_flags_the_newest(make_app) -> None:
    app = make_app(FRAUD_ACCOUNTS_PER_IP=2)
    client = app.test_client()
    players = [Player(client) for _ in range(3)]
    with app.app_context():
        flags = db.session.execute(select(FraudFlag.user_id, FraudFlag.rule, FraudFlag.severity)).all()
    assert flags == [(players[2].id, "accounts_per_ip", "low")]


@pytest.mark.parametrize("mode", ["production"])  # the embedded mode writes one action at a time
def test_a_batch_of_actions_counts_each_once_and_a_replay_fails_alone(app: Flask, client) -> None:
    ann, bob = Player(client), Player(client)
    first = ann.score(times=1)["action_id"]
    now = datetime.now(UTC)

    def write(uid: int, action_id: str) -> Change:
        return accepted_action(uid, action_id, "complete_task", 10, now, Origin.of("10.0.0.1", "test"))

    with app.app_context():
        ledger = services().scorer.ledger
        results = ledger.accept_many(
            [write(ann.id, "a1"), write(bob.id, "b1"), write(ann.id, "a2"), write(bob.id, first)]
        )
    assert [type(r).__name__ for r in results] == ["After", "After", "After", "ActionReplayed"]
    assert [r.score for r in results[:3]] == [20, 10, 30]  # type: ignore[union-attr]
    assert scalar(app, select(User.score).where(User.id == ann.id)) == 30
    assert scalar(app, select(User.score).where(User.id == bob.id)) == 10
    events = scalar(app, select(func.count()).select_from(ScoreEvent).where(ScoreEvent.user_id == ann.id))
    assert events == 3
    assert len(audit_reasons(app, ann.id, "score.accepted")) == 3


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window"])
@pytest.mark.parametrize("refusal", ["RATE_LIMITED", "COOLDOWN"])
def test_a_refused_submit_does_not_burn_its_token(make_app, strategy: str, refusal: str) -> None:
    per_user = "1/minute" if refusal == "RATE_LIMITED" else "100/minute"
    app = make_app(RATELIMIT_STRATEGY=strategy, RATELIMIT_SCORE_PER_USER=per_user)
    ann = Player(app.test_client())
    assert ann.submit(ann.action_token("slow_task")).status_code == 200
    token = ann.action_token("slow_task")
    r = ann.submit(token)
    assert r.status_code == 429 and error_code(r) == refusal
    with app.app_context():
        assert services().scorer.tokens.consume(token.split(".")[4], 60)  # still unused


def test_a_bearer_submit_answers_like_the_flask_view(app: Flask, client, monkeypatch) -> None:
    """Bearer submits are served before Flask: same statuses, bodies and headers as the view."""
    edge = app.wsgi_app
    assert isinstance(edge, Edge)
    flask_calls = []
    inner = edge.flask

    def counting(environ, start_response):  # type: ignore[no-untyped-def]
        if environ["PATH_INFO"] == "/api/v1/scores":
            flask_calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(edge, "flask", counting)
    ann, bob = Player(client), Player(client)

    def both(body: Any, raw: bytes | None = None) -> tuple[Any, Any]:
        def send(who: Player) -> Any:
            if raw is not None:
                sent = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
                return who.client.post("/api/v1/scores", data=raw, headers={**who.auth, **sent})
            return who.post("/api/v1/scores", body() if callable(body) else body)

        before = len(flask_calls)
        fast = send(ann)
        assert len(flask_calls) == before, "the fast path handed the submit to Flask"
        with monkeypatch.context() as m:
            m.setattr(edge.fast, "route", lambda environ: None)  # the same request, through Flask
            view = send(ann)
        return fast, view

    def same_headers(fast: Any, view: Any) -> None:
        skip = {"X-Request-ID", "Vary", "Content-Length", "Set-Cookie"}
        assert {k: v for k, v in fast.headers if k not in skip} == {
            k: v for k, v in view.headers if k not in skip
        }

    fast, view = both(lambda: {"action_token": ann.action_token()})
    assert fast.status_code == view.status_code == 200
    assert fast.get_json()["data"].keys() == view.get_json()["data"].keys()
    assert [fast.get_json()["data"]["new_score"], view.get_json()["data"]["new_score"]] == [10, 20]
    same_headers(fast, view)
    used = ann.action_token()
    assert ann.submit(used).status_code == 200
    refusals = [
        ({"action_token": "garbage"}, None, "TOKEN_INVALID"),
        ({"action_token": bob.action_token()}, None, "TOKEN_USER_MISMATCH"),
        ({"action_token": used}, None, "TOKEN_ALREADY_USED"),
        ({"action_token": 5}, None, "INVALID_REQUEST"),
        ({"action_token": "x", "points": 1000}, None, "INVALID_REQUEST"),
        (None, b"{not json", "INVALID_REQUEST"),
        (None, b"[]", "INVALID_REQUEST"),
    ]
    for body, raw, code in refusals:
        fast, view = both(body, raw)
        assert (fast.status_code, fast.data) == (view.status_code, view.data)
        assert error_code(fast) == code
        same_headers(fast, view)
    assert scalar(app, select(User.score).where(User.id == ann.id)) == 30


def test_submits_the_fast_path_leaves_to_flask_still_work(client) -> None:
    ann = Player(client)
    charset = ann.client.post(
        "/api/v1/scores",
        data=orjson.dumps({"action_token": ann.action_token()}),
        headers={**ann.auth, "Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 200
    text_body = ann.client.post(
        "/api/v1/scores", data="x", headers={**ann.auth, "Content-Type": "text/plain"}
    )
    assert text_body.status_code == 400 and error_code(text_body) == "INVALID_REQUEST"
    unsigned = client.post("/api/v1/scores", json={"action_token": ann.action_token()})
    assert unsigned.status_code == 401 and error_code(unsigned) == "UNAUTHORIZED"
    huge = ann.client.post(
        "/api/v1/scores",
        data=b'{"action_token": "' + b"a" * 100_000 + b'"}',
        headers={**ann.auth, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and error_code(huge) == "INVALID_REQUEST"
