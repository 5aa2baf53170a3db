"""Boards live (SPEC §14): each (board, period) is its own stream across workers and hosts.

Real gunicorn gevent workers (2 per host), PostgreSQL and Redis (the embedded mode's streams are
covered in tests/unit/boards/test_streams.py).
"""

from __future__ import annotations

from typing import Any

import requests
from sqlalchemy import create_engine, text

from tests.integration.conftest import Gunicorn, wait_until
from tests.integration.test_live import PASSWORD, register
from tests.live import LiveClient, board_of

CUP = {"slug": "cup", "title": "Cup", "periods": ["daily", "weekly"], "catalog": {"jump": {"points": 3}}}
FAIR = {"slug": "fair", "title": "Fair", "periods": [], "catalog": {"jump": {"points": 1}}}


def make_boards(base: str, database_url: str, *boards: dict[str, Any]) -> None:
    """An admin (a player promoted in the database, as `flask users create --admin` would make
    one) creates boards through the admin API."""
    uid, _ = register(base, "boss")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = 'admin' WHERE id = :u"), {"u": uid})
    engine.dispose()
    login = {"username": "boss", "password": PASSWORD}
    token = requests.post(f"{base}/api/v1/auth/login", json=login, timeout=10).json()["access_token"]
    for board in boards:
        auth = {"Authorization": f"Bearer {token}"}
        r = requests.post(f"{base}/api/v1/admin/boards", json=board, headers=auth, timeout=10)
        assert r.status_code == 201, r.text


def jump(base: str, token: str, board: str, times: int = 1) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {token}"}
    r = requests.post(
        f"{base}/api/v1/actions/token", json={"action_type": "jump", "board": board}, headers=auth, timeout=10
    )
    assert r.status_code == 201, r.text
    action, data = r.json()["action_token"], {}
    for _ in range(times):
        r = requests.post(f"{base}/api/v1/scores", json={"action_token": action}, headers=auth, timeout=10)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        action = data["next_action_token"]
    return data


def board_api(base: str, board: str, period: str) -> dict[str, Any]:
    return requests.get(f"{base}/api/v1/boards/{board}/leaderboard?period={period}", timeout=10).json()


def watchers(hosts: list[Gunicorn], board: str, period: str, per_host: int = 2) -> list[LiveClient]:
    params = {"board": board, "period": period}
    clients = [
        LiveClient(h.url, t, params=params) for h in hosts for t in ("ws", "sse") for _ in range(per_host)
    ]
    for c in clients:
        c.wait_for(lambda m: m["type"] == "leaderboard_update")  # the snapshot
    return clients


def test_each_board_and_period_streams_to_its_own_viewers_across_hosts(hosts: Any, pg_url: str) -> None:
    a, b = hosts(2)
    make_boards(a.url, pg_url, CUP, FAIR)
    cup_daily = watchers([a, b], "cup", "daily")
    cup_all = watchers([a, b], "cup", "all")
    fair = watchers([a, b], "fair", "all")
    main = watchers([a, b], "main", "all", per_host=1)
    quiet = {id(c): len(c.of_type("leaderboard_update")) for c in [*fair, *main]}
    ann, ann_token = register(a.url, "ann")
    bob, bob_token = register(b.url, "bob")
    jump(a.url, ann_token, "cup", 2)
    jump(b.url, bob_token, "cup", 3)
    want = [(1, bob, 9), (2, ann, 6)]
    for c in [*cup_daily, *cup_all]:
        c.wait_for(lambda m: m["type"] == "leaderboard_update" and board_of(m) == want)
    last = cup_daily[0].last_board()
    assert last is not None and last["data"]["board"] == "cup" and last["data"]["period"] == "daily"
    assert board_of(board_api(b.url, "cup", "daily")) == want
    # the other boards' viewers got nothing but their snapshot
    for c in [*fair, *main]:
        assert len(c.of_type("leaderboard_update")) == quiet[id(c)]
        assert c.last_board()["data"]["leaderboard"] == []  # type: ignore[index]
    # each stream counts on its own, strictly increasing, the same on every host
    for group in (cup_daily, cup_all):
        seqs = {c.last_board()["seq"] for c in group}  # type: ignore[index]
        assert len(seqs) == 1
        for c in group:
            s = [m["seq"] for m in c.of_type("leaderboard_update")]
            assert s == sorted(set(s))
    # score_update reaches the scorer's own connections on that stream only
    mine = LiveClient(a.url, "ws", token=ann_token, params={"board": "cup", "period": "weekly"})
    mine.wait_for(lambda m: m["type"] == "leaderboard_update")
    jump(a.url, ann_token, "cup")
    update = mine.wait_for(lambda m: m["type"] == "score_update")
    assert update["data"]["new_score"] == 9 and update["data"]["period"] == "weekly"
    wait_until(lambda: board_of(board_api(a.url, "cup", "weekly"))[0][2] == 9, what="weekly board")


def test_bad_streams_are_refused(hosts: Any) -> None:
    (a,) = hosts(1)
    r = requests.get(f"{a.url}/events/scoreboard?board=nope", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = requests.get(f"{a.url}/events/scoreboard?period=daily", timeout=10)  # main keeps no periods
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_REQUEST"
    r = requests.get(f"{a.url}/fragments/leaderboard?board=Bad!", timeout=10)
    assert r.status_code == 400
    ws = LiveClient(a.url, "ws", params={"board": "nope"})
    error = ws.wait_for(lambda m: m["type"] == "error")
    assert error["error"]["code"] == "NOT_FOUND"
    wait_until(lambda: ws.closed.is_set(), what="the socket closed")
    assert ws.close_code == 1008
