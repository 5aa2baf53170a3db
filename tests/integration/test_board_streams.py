"""Boards live (SPEC §14): each (board, period) is its own stream across workers and hosts.

Real gunicorn gevent workers (2 per host), PostgreSQL and Redis (the embedded mode's streams are
covered in tests/unit/boards/test_streams.py).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

from tests.integration.conftest import Gunicorn, wait_until
from tests.integration.test_live import PASSWORD, register, score
from tests.live import LiveClient, board_of

CUP = {"slug": "cup", "title": "Cup", "periods": ["daily", "weekly"], "catalog": {"jump": {"points": 3}}}
FAIR = {"slug": "fair", "title": "Fair", "periods": [], "catalog": {"jump": {"points": 1}}}


def make_boards(base: str, database_url: str, *boards: dict[str, Any], admin: str = "boss") -> None:
    """An admin (a player promoted in the database, as `flask users create --admin` would make
    one) creates boards through the admin API."""
    uid, _ = register(base, admin)
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = 'admin' WHERE id = :u"), {"u": uid})
    engine.dispose()
    login = {"username": admin, "password": PASSWORD}
    token = requests.post(f"{base}/api/v1/auth/login", json=login, timeout=10).json()["access_token"]
    for board in boards:
        auth = {"Authorization": f"Bearer {token}"}
        r = requests.post(f"{base}/api/v1/admin/boards", json=board, headers=auth, timeout=10)
        assert r.status_code == 201, r.text


def jump(base: str, token: str, board: str, times: int = 1) -> dict[str, Any]:
    return score(base, token, times, action_type="jump", board=board)


def board_api(base: str, board: str, period: str, at: str | None = None) -> dict[str, Any]:
    params = {"period": period, **({"at": at} if at else {})}
    r = requests.get(f"{base}/api/v1/boards/{board}/leaderboard", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


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


DASH = {
    "slug": "dash",
    "title": "Dash",
    "periods": ["daily"],
    "timezone": "UTC",
    "catalog": {"jump": {"points": 3}},
}
DAY = 86400


def offset_to_midnight(lead: float) -> int:
    """CLOCK_OFFSET_SECONDS that puts the app's clock `lead` seconds before a UTC midnight now."""
    now = time.time()
    return round((now // DAY + 1) * DAY - lead - now)


def at_utc(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.replace(tzinfo=at.tzinfo or UTC).astimezone(UTC)


class Submitter(threading.Thread):
    """One player scoring on a board, alternating hosts, until told to stop; keeps every 200."""

    def __init__(self, bases: list[str], token: str, board: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.bases, self.board, self.stop = bases, board, stop
        self.auth = {"Authorization": f"Bearer {token}"}
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []

    def run(self) -> None:
        session = requests.Session()
        action: str | None = None
        i = 0
        while not self.stop.is_set():
            base = self.bases[i % len(self.bases)]
            i += 1
            if action is None:
                body = {"action_type": "jump", "board": self.board}
                r = session.post(f"{base}/api/v1/actions/token", json=body, headers=self.auth, timeout=10)
                if r.status_code != 201:
                    self.refused.append(r.text)
                    continue
                action = r.json()["action_token"]
            r = session.post(
                f"{base}/api/v1/scores", json={"action_token": action}, headers=self.auth, timeout=10
            )
            if r.status_code != 200:
                self.refused.append(r.text)
                action = None
                continue
            data = r.json()["data"]
            self.accepted.append(data)
            action = data["next_action_token"]
        session.close()


def test_a_day_rolls_over_across_hosts_while_players_score(hosts: Any, pg_url: str) -> None:
    """Production: 2 hosts × 2 workers, viewers on WebSocket and SSE on both hosts."""
    roll_over_while_scoring(hosts(2, CLOCK_OFFSET_SECONDS=str(offset_to_midnight(9.0))), pg_url)


def test_a_day_rolls_over_in_one_process_while_players_score(embedded_host: Any, tmp_path: Path) -> None:
    """The embedded default: one process, SQLite, the in-process broker."""
    server = embedded_host(CLOCK_OFFSET_SECONDS=str(offset_to_midnight(6.0)))
    roll_over_while_scoring([server, server], f"sqlite:///{tmp_path / 'instance' / 'scoreboard.db'}")


def roll_over_while_scoring(servers: list[Gunicorn], database_url: str) -> None:
    """A daily board's viewers (WebSocket and SSE on every server), four players' submits flowing
    before and across the app's midnight (CLOCK_OFFSET_SECONDS puts it seconds away): every viewer
    moves to the new day under a newer seq and ends on the final board; the ended day reads back as
    the viewers last saw it; every 200 is in the database once, in the day it counted in."""
    a, b = servers
    offset = int(a.env["CLOCK_OFFSET_SECONDS"])
    make_boards(a.url, database_url, DASH)
    viewers = watchers(list({s.url: s for s in servers}.values()), "dash", "daily")
    eve = board_api(b.url, "dash", "daily")
    old_key = eve["period_key"]
    boundary = at_utc(eve["ends_at"]).timestamp() - offset  # on our clock
    players = [register((a, b)[i % 2].url, f"runner{i}") for i in range(4)]
    assert boundary - time.time() > 1.0, "the hosts took too long to start: the day has nearly ended"

    stop = threading.Event()
    submitters = [
        Submitter([a.url, b.url] if i % 2 == 0 else [b.url, a.url], t, "dash", stop)
        for i, (_, t) in enumerate(players)
    ]
    for s in submitters:
        s.start()
    wait_until(lambda: time.time() > boundary + 1.5, timeout=30, what="the boundary to pass")
    stop.set()
    for s in submitters:
        s.join(timeout=20)
    assert not any(s.refused for s in submitters), [s.refused[:2] for s in submitters]
    accepted = [d for s in submitters for d in s.accepted]

    # Every viewer ends on the same final board and seq: the API's current day.
    new = board_api(a.url, "dash", "daily")
    new_key = new["period_key"]
    assert new_key > old_key

    def final() -> bool:
        want = board_api(a.url, "dash", "daily")
        for c in viewers:
            last = c.last_board()
            if last is None or last["data"]["period_key"] != want["period_key"]:
                return False
            if board_of(last) != board_of(want) or last["seq"] != want["seq"]:
                return False
        return True

    def explain() -> str:
        lasts = [(c.transport, (lb or {}).get("seq"), board_of(lb) if lb else None) for c in viewers
                 for lb in [c.last_board()]]  # fmt: skip
        return f"api {board_api(a.url, 'dash', 'daily')}; viewers {lasts}"

    wait_until(final, timeout=20, what="every viewer on the final board", explain=explain)

    ended = board_api(b.url, "dash", "daily", at=old_key)
    assert ended["period_key"] == old_key and ended["seq"] == 0
    last_old: dict[int, dict[str, Any]] = {}  # each viewer's last board of the ended day
    for i, c in enumerate(viewers):
        boards = c.of_type("leaderboard_update")
        seqs = [m["seq"] for m in boards]
        assert seqs == sorted(set(seqs)), f"{c.transport}: seq went back or repeated: {seqs}"
        keys = [m["data"]["period_key"] for m in boards]
        assert set(keys) == {old_key, new_key} and keys == sorted(keys), keys
        first_new = keys.index(new_key)
        assert boards[first_new]["seq"] > max(seqs[:first_new])  # the new day's snapshot is newer
        last_old[i] = boards[first_new - 1]

    # Every 200 is in the database exactly once, and each day's scores are its events' points.
    engine = create_engine(database_url)
    with engine.connect() as conn:
        events = conn.execute(
            text("SELECT action_id, user_id, points, created_at FROM score_events WHERE board = 'dash'")
        ).all()
        rows = conn.execute(
            text(
                "SELECT period_key, user_id, score FROM board_scores"
                " WHERE board = 'dash' AND period = 'daily'"
            )
        ).all()
    engine.dispose()
    ids = [e.action_id for e in events]
    assert len(ids) == len(set(ids)) and set(ids) == {d["action_id"] for d in accepted}
    assert len(accepted) == len(ids)
    summed: dict[tuple[str, int], int] = {}
    for e in events:
        key = at_utc(e.created_at).date().isoformat()
        summed[(key, e.user_id)] = summed.get((key, e.user_id), 0) + e.points
    assert {(r.period_key, r.user_id): r.score for r in rows} == summed
    days = {key for key, _ in summed}
    assert days == {old_key, new_key}, f"submits did not flow across the boundary: {days}"
    # the ended day's final standings are those sums
    final_old = {(uid, points) for (key, uid), points in summed.items() if key == old_key}
    assert {(uid, points) for _, uid, points in board_of(ended)} == final_old

    # The last board each viewer saw of the ended day is that day's final standings, or short of
    # them only by actions stamped before the end whose placement came after the viewers had
    # moved to the new day (their points count in the ended day: the read above shows them).
    want = {uid: points for _, uid, points in board_of(ended)}
    behind = 0
    for i, m in last_old.items():
        seen = {uid: points for _, uid, points in board_of(m)}
        assert all(seen.get(uid, 0) <= points for uid, points in want.items()), (
            viewers[i].transport,
            seen,
            want,
        )
        behind += seen != want
    assert behind < len(viewers), "no viewer saw the ended day's final board"


def test_a_boards_current_periods_are_read_on_the_apps_clock(hosts: Any, pg_url: str) -> None:
    """GET /api/v1/boards/{slug} names the same current periods as the board's reads and streams,
    with CLOCK_OFFSET_SECONDS moving the app's clock (here two days ahead)."""
    (a,) = hosts(1, workers=1, CLOCK_OFFSET_SECONDS=str(2 * DAY))
    began = time.time()
    make_boards(a.url, pg_url, DASH)
    detail = requests.get(f"{a.url}/api/v1/boards/dash", timeout=10).json()
    current = {c["period"]: c for c in detail["current"]}
    day = board_api(a.url, "dash", "daily")
    ahead = {datetime.fromtimestamp(t + 2 * DAY, UTC).date().isoformat() for t in (began, time.time())}
    assert day["period_key"] in ahead
    assert (current["daily"]["period_key"], current["daily"]["starts_at"], current["daily"]["ends_at"]) == (
        day["period_key"],
        day["starts_at"],
        day["ends_at"],
    )
