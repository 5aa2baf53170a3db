"""A player's score over time (GET /api/v1/users/{id}/history, SPEC §14): buckets, bounds, admin
changes reflected, and the refusals; both run modes. Bucket arithmetic with a fake clock is in
tests/unit/scoring/test_history.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from tests.api.test_board_scores import BOARD, CUP, boss, jump  # noqa: F401 (the fixture)
from tests.helpers import Player, error_code


def history(client: FlaskClient, uid: int, query: str = "") -> list[dict[str, object]]:
    r = client.get(f"/api/v1/users/{uid}/history{query}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["points"]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_hour_buckets_end_on_the_current_score(client: FlaskClient) -> None:
    ann = Player(client)
    ann.score(3)
    points = history(client, ann.id)
    assert len(points) in (48, 49)  # the last 48 hours: whole hours, then the running one
    assert points[-1]["score"] == 30 and points[0]["score"] == 0  # before the first action: 0
    assert [p["at"] for p in points] == sorted(p["at"] for p in points)
    hours = [p["at"] for p in points[:-1]]
    assert all(str(at).endswith(":00:00.000Z") for at in hours)


def test_day_buckets_and_explicit_bounds(client: FlaskClient) -> None:
    ann = Player(client)
    ann.score(2)
    now = datetime.now(UTC)
    start = (now - timedelta(days=3)).replace(hour=12, minute=0, second=0, microsecond=0)
    points = history(client, ann.id, f"?bucket=day&from={iso(start)}")
    assert len(points) == 4 and [p["score"] for p in points] == [0, 0, 0, 20]
    midnight = (start + timedelta(days=1)).replace(hour=0)
    assert points[0]["at"] == midnight.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # days end at midnight
    until = now - timedelta(minutes=1)
    window = history(client, ann.id, f"?from={iso(until - timedelta(hours=3))}&until={iso(until)}")
    assert len(window) in (3, 4) and window[-1]["score"] == 0  # the actions came after `until`


def test_adjust_and_reset_show_in_the_history(client: FlaskClient, boss: Player) -> None:  # noqa: F811
    ann = Player(client)
    ann.score(2)
    boss.post(f"/api/v1/admin/users/{ann.id}/adjust", {"points": 5, "reason": "bonus"})
    assert history(client, ann.id)[-1]["score"] == 25
    boss.post(f"/api/v1/admin/users/{ann.id}/reset", {"reason": "cheat"})
    r = client.get(f"/api/v1/users/{ann.id}/history")
    assert r.status_code == 404  # off the board until they score again
    ann.score()
    assert history(client, ann.id)[-1]["score"] == 10


def test_a_boards_periods_have_their_own_history(client: FlaskClient, boss: Player) -> None:  # noqa: F811
    ann = Player(client)
    jump(ann, 3)
    ann.score()
    for period in ("all", "daily", "weekly", "monthly"):
        points = history(client, ann.id, f"?board=cup&period={period}")
        assert points[-1]["score"] == 9, period
    daily = history(client, ann.id, "?board=cup&period=daily&bucket=hour")
    assert len(daily) <= 25  # from the start of the board's day (Auckland), not 48 hours
    boss.post(f"/api/v1/admin/users/{ann.id}/reset", {"reason": "x", "board": "cup"})
    jump(ann)
    assert history(client, ann.id, "?board=cup&period=weekly")[-1]["score"] == 3
    assert history(client, ann.id)[-1]["score"] == 10  # main's untouched


def test_hidden_and_unranked_players_have_no_history(client: FlaskClient) -> None:
    ann, bob = Player(client), Player(client)
    ann.score()
    assert client.get(f"/api/v1/users/{bob.id}/history").status_code == 404  # never scored
    assert client.get("/api/v1/users/999999/history").status_code == 404
    ann.client.patch("/api/v1/me", json={"is_hidden": True}, headers=ann.auth)
    r = client.get(f"/api/v1/users/{ann.id}/history")
    assert r.status_code == 404 and error_code(r) == "NOT_FOUND"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?bucket=minute", 400),
        ("?bucket=hour&from=yesterday", 400),
        ("?from=2026-12-01T00:00:00Z&until=2026-11-30T00:00:00Z", 400),  # backwards
        ("?bucket=hour&from=2026-01-01T00:00:00Z", 400),  # thousands of hours: over 2,000 points
        ("?bucket=day&from=2000-01-01T00:00:00Z", 400),
        ("?period=daily", 400),  # main keeps no periods
        ("?board=nope", 404),
        ("?board=NOPE", 400),
        ("?from=" + "9" * 200, 400),
    ],
)
def test_bad_history_requests(client: FlaskClient, query: str, status: int) -> None:
    ann = Player(client)
    ann.score()
    r = client.get(f"/api/v1/users/{ann.id}/history{query}")
    assert r.status_code == status, (query, r.get_json())
