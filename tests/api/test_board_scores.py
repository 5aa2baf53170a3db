"""Scoring on a board and reading its periods (SPEC §14), in both run modes.

A board's all-time score and each of its current periods move with every accepted action, in
the same transaction; `main` stays exactly what it was; reads refuse what a board does not have.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app.boards import periods as p
from app.extensions import db
from tests.helpers import Player, admin_player, error_code

CUP = {
    "slug": "cup",
    "title": "Cup",
    "periods": ["daily", "weekly", "monthly"],
    "timezone": "Pacific/Auckland",
    "catalog": {"jump": {"points": 3}, "slow_jump": {"points": 7, "cooldown_seconds": 60}},
}
BOARD = "/api/v1/boards/cup"


@pytest.fixture
def boss(app: Flask, client: FlaskClient) -> Player:
    boss = admin_player(app, client)
    r = boss.post("/api/v1/admin/boards", CUP)
    assert r.status_code == 201, r.get_json()
    return boss


def jump(player: Player, times: int = 1, action: str = "jump", board: str = "cup") -> dict[str, Any]:
    """Perform a board's action `times` times (token, submit, then the next token)."""
    r = player.post("/api/v1/actions/token", {"action_type": action, "board": board})
    assert r.status_code == 201, r.get_json()
    token, data = r.get_json()["action_token"], {}
    for _ in range(times):
        r = player.submit(token)
        assert r.status_code == 200, r.get_json()
        data = r.get_json()["data"]
        token = data["next_action_token"]
    return data


def read(client: FlaskClient, path: str, want_seq: int = 0) -> dict[str, Any]:
    """A board read once this process has seen the change (events are asynchronous)."""
    deadline = time.monotonic() + 10
    while True:
        r = client.get(path)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        if body["seq"] >= want_seq or time.monotonic() > deadline:
            return body
        time.sleep(0.01)


def scores(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(e["username"], e["score"]) for e in body["leaderboard"]]


def today(period: str, tz: str = "Pacific/Auckland") -> str:
    return p.key_at(p.Period(period), datetime.now(UTC), p.zone(tz))


def test_an_action_on_a_board_counts_in_every_period_and_not_on_main(
    client: FlaskClient, boss: Player
) -> None:
    ann, bob = Player(client), Player(client)
    done = jump(ann, 2)
    assert (done["new_score"], done["rank"], done["points"]) == (6, 1, 3)
    jump(bob)
    for period in ("all", "daily", "weekly", "monthly"):
        body = read(client, f"{BOARD}/leaderboard?period={period}", 1)
        assert scores(body) == [(ann.username, 6), (bob.username, 3)], period
        assert body["board"] == "cup" and body["period"] == period and body["total_players"] == 2
        key = "all" if period == "all" else today(period)
        assert body["period_key"] == key
        if period == "all":
            assert body["starts_at"] is None and body["ends_at"] is None
        else:
            window = p.window(p.Period(period), key, p.zone("Pacific/Auckland"))
            assert body["starts_at"].startswith(window.starts_at.strftime("%Y-%m-%dT%H:%M"))  # type: ignore[union-attr]
    main = client.get("/api/v1/leaderboard").get_json()
    assert main["leaderboard"] == [] and main["total_players"] == 0  # main is untouched
    rank = client.get(f"{BOARD}/users/{bob.id}/rank?period=weekly").get_json()
    assert (rank["rank"], rank["score"], rank["percentile"], rank["period_key"]) == (
        2,
        3,
        50.0,
        today("weekly"),
    )
    around = client.get(f"{BOARD}/leaderboard/around/{bob.id}?period=daily&radius=0").get_json()
    assert scores(around) == [(bob.username, 3)] and around["period_key"] == today("daily")


def test_the_database_holds_every_period_and_the_events_name_their_board(
    app: Flask, client: FlaskClient, boss: Player
) -> None:
    ann = Player(client)
    jump(ann, 3)
    ann.score()  # main, for contrast
    with app.app_context():
        rows = db.session.execute(
            text("SELECT period, period_key, score FROM board_scores WHERE user_id = :u ORDER BY period"),
            {"u": ann.id},
        ).all()
        events = db.session.execute(
            text("SELECT board, points, score_after FROM score_events WHERE user_id = :u ORDER BY id"),
            {"u": ann.id},
        ).all()
        main_score = db.session.execute(text("SELECT score FROM users WHERE id = :u"), {"u": ann.id}).scalar()
    assert sorted(rows) == sorted(
        [("all", "all", 9), ("daily", today("daily"), 9), ("weekly", today("weekly"), 9),
         ("monthly", today("monthly"), 9)]
    )  # fmt: skip
    assert [tuple(e) for e in events] == [("cup", 3, 3), ("cup", 3, 6), ("cup", 3, 9), ("main", 10, 10)]
    assert main_score == 10


def test_a_board_scores_with_its_own_catalog_and_cooldowns(client: FlaskClient, boss: Player) -> None:
    ann = Player(client)
    r = ann.post("/api/v1/actions/token", {"action_type": "complete_task", "board": "cup"})
    assert r.status_code == 400 and error_code(r) == "INVALID_ACTION"  # main's action, not the cup's
    r = ann.post("/api/v1/actions/token", {"action_type": "jump"})
    assert r.status_code == 400 and error_code(r) == "INVALID_ACTION"  # the cup's action, not main's
    r = ann.post("/api/v1/actions/token", {"action_type": "jump", "board": "nope"})
    assert r.status_code == 404 and error_code(r) == "NOT_FOUND"
    r = ann.post("/api/v1/actions/token", {"action_type": "jump", "board": "Bad Slug"})
    assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST"
    first = jump(ann, action="slow_jump")
    r = ann.submit(first["next_action_token"])
    assert r.status_code == 429 and error_code(r) == "COOLDOWN"  # the cup's 60 s cooldown
    assert ann.score()["new_score"] == 10  # main's actions do not share the cup's cooldown


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("?period=hourly", 400, "INVALID_REQUEST"),
        ("?period=daily&at=2026-13-01", 400, "INVALID_REQUEST"),
        ("?period=daily&at=2026-W49", 400, "INVALID_REQUEST"),  # a week key for a day
        ("?period=weekly&at=2026-W54", 400, "INVALID_REQUEST"),
        ("?period=daily&at=2999-01-01", 400, "INVALID_REQUEST"),  # the future
        ("?period=all&at=2026-12", 400, "INVALID_REQUEST"),
        ("?period=daily&at=" + "9" * 300, 400, "INVALID_REQUEST"),
        ("?limit=0", 400, "INVALID_REQUEST"),
    ],
)
def test_bad_board_reads_are_refused(
    client: FlaskClient, boss: Player, query: str, status: int, code: str
) -> None:
    for path in (f"{BOARD}/leaderboard", f"{BOARD}/users/{boss.id}/rank"):
        r = client.get(path + query)
        if query == "?limit=0" and "rank" in path:
            continue  # no limit there
        assert r.status_code == status and error_code(r) == code, (path, r.get_json())


def test_unknown_boards_and_periods_a_board_does_not_keep(client: FlaskClient, boss: Player) -> None:
    for path in ("/api/v1/boards/nope/leaderboard", f"/api/v1/boards/nope/users/{boss.id}/rank",
                 "/api/v1/boards/NOPE!/leaderboard"):  # fmt: skip
        r = client.get(path)
        assert r.status_code == 404 and error_code(r) == "NOT_FOUND", path
    r = client.get("/api/v1/boards/main/leaderboard?period=daily")  # main keeps no periods here
    assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST"
    r = client.get(f"{BOARD}/users/{boss.id}/rank")
    assert r.status_code == 404  # not ranked on the cup


def test_a_past_period_reads_as_its_final_standings(client: FlaskClient, boss: Player) -> None:
    r = client.get(f"{BOARD}/leaderboard?period=weekly&at=2026-W01")
    assert r.status_code == 200
    body = r.get_json()
    assert body["leaderboard"] == [] and body["period_key"] == "2026-W01" and body["seq"] == 0
    assert body["starts_at"] == "2025-12-28T11:00:00.000Z"  # Monday 00:00 in Auckland (NZDT)
    again = client.get(
        f"{BOARD}/leaderboard?period=weekly&at=2026-W01", headers={"If-None-Match": r.headers["ETag"]}
    )
    assert again.status_code == 304


def test_board_reads_carry_an_etag(client: FlaskClient, boss: Player) -> None:
    ann = Player(client)
    jump(ann)
    read(client, f"{BOARD}/leaderboard?period=daily", 1)
    r = client.get(f"{BOARD}/leaderboard?period=daily")
    body = r.get_json()
    assert r.headers["ETag"] == f'"{body["seq"]}-10-0"'
    assert (
        client.get(
            f"{BOARD}/leaderboard?period=daily", headers={"If-None-Match": r.headers["ETag"]}
        ).status_code
        == 304
    )
    jump(ann)
    later = read(client, f"{BOARD}/leaderboard?period=daily", body["seq"] + 1)
    assert later["seq"] > body["seq"] and scores(later) == [(ann.username, 6)]


def test_main_reads_through_the_board_endpoints_as_through_the_old_ones(client: FlaskClient) -> None:
    ann = Player(client)
    ann.score(2)
    old = read(client, "/api/v1/leaderboard", 1)
    new = read(client, "/api/v1/boards/main/leaderboard", old["seq"])
    assert {
        k: v for k, v in new.items() if k not in ("board", "period", "period_key", "starts_at", "ends_at")
    } == old
    assert (new["board"], new["period"], new["period_key"]) == ("main", "all", "all")


def test_main_can_keep_periods_too(client: FlaskClient, boss: Player) -> None:
    r = boss.client.patch("/api/v1/admin/boards/main", json={"periods": ["daily"]}, headers=boss.auth)
    assert r.status_code == 200, r.get_json()
    ann = Player(client)
    ann.score(2)
    daily = read(client, "/api/v1/boards/main/leaderboard?period=daily", 2)
    main = client.get("/api/v1/leaderboard").get_json()
    assert scores(main) == [(ann.username, 20)] and main["seq"] >= 2
    assert daily["period_key"] == today("daily", "UTC")
    assert scores(daily) == [(ann.username, 20)]


def test_adjust_and_reset_act_on_one_board(client: FlaskClient, boss: Player) -> None:
    ann = Player(client)
    jump(ann, 2)
    ann.score()
    r = boss.post(f"/api/v1/admin/users/{ann.id}/adjust", {"points": 5, "reason": "bonus", "board": "cup"})
    assert r.status_code == 200, r.get_json()
    cup = read(client, f"{BOARD}/leaderboard?period=weekly", 1)
    assert scores(cup) == [(ann.username, 11)]
    assert scores(client.get("/api/v1/leaderboard").get_json()) == [(ann.username, 10)]
    r = boss.post(f"/api/v1/admin/users/{ann.id}/reset", {"reason": "cheat", "board": "cup"})
    assert r.status_code == 200, r.get_json()
    deadline = time.monotonic() + 10
    while client.get(f"{BOARD}/leaderboard").get_json()["leaderboard"] and time.monotonic() < deadline:
        time.sleep(0.01)
    for period in ("all", "daily", "weekly"):
        assert client.get(f"{BOARD}/leaderboard?period={period}").get_json()["leaderboard"] == [], period
    assert scores(client.get("/api/v1/leaderboard").get_json()) == [(ann.username, 10)]
    r = boss.post(f"/api/v1/admin/users/{ann.id}/adjust", {"points": 5, "reason": "x", "board": "nope"})
    assert r.status_code == 404 and error_code(r) == "NOT_FOUND"


def test_a_ban_takes_a_player_off_every_board(client: FlaskClient, boss: Player) -> None:
    ann, bob = Player(client), Player(client)
    jump(ann, 2)
    jump(bob)
    r = boss.post(f"/api/v1/admin/users/{ann.id}/ban", {"reason": "cheat"})
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    while len(client.get(f"{BOARD}/leaderboard?period=daily").get_json()["leaderboard"]) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for period in ("all", "daily", "weekly", "monthly"):
        body = client.get(f"{BOARD}/leaderboard?period={period}").get_json()
        assert scores(body) == [(bob.username, 3)] and body["total_players"] == 1, period
    assert client.get(f"{BOARD}/users/{ann.id}/rank").status_code == 404
    boss.post(f"/api/v1/admin/users/{ann.id}/unban", {"reason": "appeal"})
    deadline = time.monotonic() + 10
    while len(client.get(f"{BOARD}/leaderboard?period=weekly").get_json()["leaderboard"]) != 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert scores(client.get(f"{BOARD}/leaderboard?period=weekly").get_json())[0] == (ann.username, 6)


def test_the_export_holds_every_board_and_period_played(client: FlaskClient, boss: Player) -> None:
    ann = Player(client)
    jump(ann, 2)
    ann.score()
    export = ann.get("/api/v1/me/export").get_json()
    played = {(b["board"], b["period"], b["period_key"]): b["score"] for b in export["boards"]}
    assert played == {
        ("main", "all", "all"): 10,
        ("cup", "all", "all"): 6,
        ("cup", "daily", today("daily")): 6,
        ("cup", "weekly", today("weekly")): 6,
        ("cup", "monthly", today("monthly")): 6,
    }
    assert [e["board"] for e in export["score_events"]] == ["cup", "cup", "main"]
