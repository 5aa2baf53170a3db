"""The admin API (SPEC §6): review queue, players, moderation, audit log; in both run modes."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, FraudFlag, ScoreEvent, User
from app.services import services
from tests.helpers import Player, admin_player, error_code


def flag(app: Flask, player: Player, rule: str = "burst") -> int:
    with app.app_context():
        services().rules.flag(player.id, rule, "high", {"count": 9})
        return db.session.execute(
            select(FraudFlag.id).where(FraudFlag.user_id == player.id, FraudFlag.rule == rule)
        ).scalar_one()


def board(client: FlaskClient) -> list[tuple[str, int]]:
    return [(e["username"], e["score"]) for e in client.get("/api/v1/leaderboard").get_json()["leaderboard"]]


def count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


ADMIN_CALLS = [
    ("GET", "/api/v1/admin/flags", None),
    ("POST", "/api/v1/admin/flags/FLAG/resolve", {"resolution": "confirmed", "reason": "x"}),
    ("GET", "/api/v1/admin/users", None),
    ("GET", "/api/v1/admin/users/UID", None),
    ("POST", "/api/v1/admin/users/UID/ban", {"reason": "x"}),
    ("POST", "/api/v1/admin/users/UID/unban", {"reason": "x"}),
    ("POST", "/api/v1/admin/users/UID/hide", {"reason": "x"}),
    ("POST", "/api/v1/admin/users/UID/unhide", {"reason": "x"}),
    ("POST", "/api/v1/admin/users/UID/adjust", {"points": 100, "reason": "x"}),
    ("POST", "/api/v1/admin/users/UID/reset", {"reason": "x"}),
    ("GET", "/api/v1/admin/audit", None),
]


@pytest.mark.parametrize("method, path, body", ADMIN_CALLS, ids=[f"{m} {p}" for m, p, _ in ADMIN_CALLS])
def test_players_and_strangers_cannot_use_the_admin_api(
    app: Flask, client: FlaskClient, method: str, path: str, body: Any
) -> None:
    ann = Player(client, "ann")
    ann.score(1)
    url = path.replace("UID", str(ann.id)).replace("FLAG", str(flag(app, ann)))
    before = (board(client), count(app, AuditLog), count(app, FraudFlag, FraudFlag.status == "open"))
    as_player = client.open(url, method=method, json=body, headers=ann.auth)
    assert as_player.status_code == 403 and error_code(as_player) == "FORBIDDEN"
    anonymous = client.open(url, method=method, json=body)
    assert anonymous.status_code == 401 and error_code(anonymous) == "UNAUTHORIZED"
    assert (board(client), count(app, AuditLog), count(app, FraudFlag, FraudFlag.status == "open")) == before


def test_the_review_queue_clears_and_confirms_flags(app: Flask, client: FlaskClient) -> None:
    boss = admin_player(app, client)
    ann, bob = Player(client, "ann"), Player(client, "bob")
    ann.score(1)
    bob.score(2)
    ann_flag, bob_flag = flag(app, ann), flag(app, bob, "velocity")
    queue = boss.get("/api/v1/admin/flags").get_json()
    assert queue["total"] == 2 and queue["page"] == 1 and queue["pages"] == 1
    assert [f["id"] for f in queue["flags"]] == [bob_flag, ann_flag]  # newest first
    first = queue["flags"][0]
    assert {k: first[k] for k in ("user_id", "username", "rule", "severity", "status")} == {
        "user_id": bob.id,
        "username": "bob",
        "rule": "velocity",
        "severity": "high",
        "status": "open",
    }
    assert first["details"] == {"count": 9} and first["created_at"].endswith("Z")

    cleared = boss.post(f"/api/v1/admin/flags/{ann_flag}/resolve", {"resolution": "cleared", "reason": "ok"})
    assert cleared.status_code == 200 and cleared.get_json()["status"] == "cleared"
    assert count(app, User, User.id == ann.id, User.is_flagged) == 0  # no open flag left
    again = boss.post(f"/api/v1/admin/flags/{ann_flag}/resolve", {"resolution": "confirmed", "reason": "x"})
    assert again.status_code == 400 and error_code(again) == "INVALID_REQUEST"

    confirmed = boss.post(
        f"/api/v1/admin/flags/{bob_flag}/resolve", {"resolution": "confirmed", "reason": "bot"}
    )
    assert confirmed.status_code == 200 and confirmed.get_json()["resolved_by"] == boss.id
    assert board(client) == [("ann", 10)]  # bob is banned: off the board
    refused = bob.post("/api/v1/actions/token", {"action_type": "complete_task"})
    assert refused.status_code == 403 and error_code(refused) == "ACCOUNT_BANNED"
    assert boss.get("/api/v1/admin/flags").get_json()["total"] == 0
    assert boss.get("/api/v1/admin/flags?status=all").get_json()["total"] == 2
    assert [f["id"] for f in boss.get("/api/v1/admin/flags?status=confirmed").get_json()["flags"]] == [
        bob_flag
    ]
    events = [e["event"] for e in boss.get(f"/api/v1/admin/audit?user_id={bob.id}").get_json()["entries"]]
    assert events[:2] == ["admin.ban", "admin.flag_confirmed"]
    missing = boss.post("/api/v1/admin/flags/999999/resolve", {"resolution": "cleared", "reason": "x"})
    assert missing.status_code == 404 and error_code(missing) == "NOT_FOUND"


def test_moderation_moves_the_board_at_once_and_is_audited(app: Flask, client: FlaskClient) -> None:
    boss = admin_player(app, client)
    ann, bob = Player(client, "ann"), Player(client, "bob")
    ann.score(1)
    bob.score(2)
    assert board(client) == [("bob", 20), ("ann", 10)]

    def act(what: str, uid: int, **body: Any) -> dict[str, Any]:
        r = boss.post(f"/api/v1/admin/users/{uid}/{what}", {"reason": f"test {what}", **body})
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    banned = act("ban", bob.id, duration_seconds=3600)
    assert banned["user"]["is_banned"] and banned["user"]["banned_until"] and banned["rank"] is None
    assert board(client) == [("ann", 10)]
    assert act("unban", bob.id)["rank"] == 1 and board(client) == [("bob", 20), ("ann", 10)]
    assert act("hide", ann.id)["user"]["is_hidden"] and board(client) == [("bob", 20)]
    assert act("unhide", ann.id)["rank"] == 2
    adjusted = act("adjust", ann.id, points=25)
    assert adjusted["user"]["score"] == 35 and adjusted["rank"] == 1 and adjusted["previous_rank"] == 2
    assert board(client) == [("ann", 35), ("bob", 20)]
    assert act("adjust", ann.id, points=-30)["user"]["score"] == 5
    reset = act("reset", bob.id)
    assert reset["user"]["score"] == 0 and reset["rank"] is None and board(client) == [("ann", 5)]
    assert count(app, ScoreEvent, ScoreEvent.source == "admin") == 3
    entries = boss.get(f"/api/v1/admin/audit?user_id={ann.id}&event=admin.adjust").get_json()["entries"]
    assert [(e["actor_user_id"], e["reason_code"], e["details"]) for e in entries] == [
        (boss.id, "test adjust", {"points": -30, "score_after": 5, "reason": "test adjust"}),
        (boss.id, "test adjust", {"points": 25, "score_after": 35, "reason": "test adjust"}),
    ]
    nobody = boss.post("/api/v1/admin/users/999999/ban", {"reason": "x"})
    assert nobody.status_code == 404 and error_code(nobody) == "NOT_FOUND"


def test_player_search_and_detail(app: Flask, client: FlaskClient) -> None:
    boss = admin_player(app, client)
    ann, annie, bob = Player(client, "Ann_1"), Player(client, "annie"), Player(client, "bob")
    ann.score(2)
    flag(app, annie)
    found = boss.get("/api/v1/admin/users?q=ANN").get_json()
    assert [u["username"] for u in found["users"]] == ["annie", "Ann_1"]  # flagged first
    assert found["total"] == 2 and found["pages"] == 1
    assert boss.get("/api/v1/admin/users?q=%25").get_json()["total"] == 0  # % is a literal
    assert boss.get("/api/v1/admin/users?q=n_1").get_json()["total"] == 1  # so is _
    assert boss.get("/api/v1/admin/users").get_json()["total"] == 4
    detail = boss.get(f"/api/v1/admin/users/{ann.id}").get_json()
    assert detail["user"]["username"] == "Ann_1" and detail["user"]["score"] == 20
    assert [e["points"] for e in detail["score_events"]] == [10, 10] and detail["flags"] == []
    assert "score.accepted" in [a["event"] for a in detail["audit"]]
    assert boss.get(f"/api/v1/admin/users/{annie.id}").get_json()["flags"][0]["rule"] == "burst"
    missing = boss.get("/api/v1/admin/users/999999")
    assert missing.status_code == 404 and error_code(missing) == "NOT_FOUND"
    assert bob.id


def test_audit_log_filters_and_pages(app: Flask, client: FlaskClient) -> None:
    boss = admin_player(app, client)
    ann = Player(client, "ann")
    ann.score(3)
    all_rows = boss.get("/api/v1/admin/audit").get_json()
    assert all_rows["total"] == count(app, AuditLog) and all_rows["page"] == 1
    accepted = boss.get("/api/v1/admin/audit?event=score.accepted").get_json()["entries"]
    assert len(accepted) == 3 and {e["subject_user_id"] for e in accepted} == {ann.id}
    newest = accepted[0]["created_at"]
    after = boss.get(f"/api/v1/admin/audit?event=score.accepted&since={newest}").get_json()["entries"]
    assert [e["id"] for e in after] == [accepted[0]["id"]]
    before = boss.get(f"/api/v1/admin/audit?event=score.accepted&until={newest}").get_json()["entries"]
    assert [e["id"] for e in before] == [e["id"] for e in accepted[1:]]
    naive = boss.get("/api/v1/admin/audit?since=2000-01-01T00:00:00").get_json()  # read as UTC
    assert naive["total"] >= all_rows["total"]
    for query in ("since=yesterday", "until=2026-13-01", "user_id=abc", "page=0", "status=x&page=-1"):
        r = boss.get(f"/api/v1/admin/audit?{query}")
        assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST", query
    bad_status = boss.get("/api/v1/admin/flags?status=pending")
    assert bad_status.status_code == 400 and error_code(bad_status) == "INVALID_REQUEST"


def test_pages_of_fifty(app: Flask, client: FlaskClient) -> None:
    boss = admin_player(app, client)
    with app.app_context():
        db.session.add_all(
            [User(username=f"p{i:03d}", display_name=f"p{i:03d}", email=None) for i in range(60)]
        )
        db.session.commit()
    first = boss.get("/api/v1/admin/users?q=p0").get_json()
    second = boss.get("/api/v1/admin/users?q=p0&page=2").get_json()
    assert (first["total"], first["pages"], len(first["users"]), len(second["users"])) == (60, 2, 50, 10)
    assert not {u["id"] for u in first["users"]} & {u["id"] for u in second["users"]}
