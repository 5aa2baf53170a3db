"""Streams with a fake clock: periods roll over while players score, and nothing is lost or
counted in the wrong period; an ended period reads as the board showed it last. Both run modes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from app.audit import Origin
from app.auth.principal import Principal
from app.boards import periods as p
from app.live.hub import Connection, Message
from tests.unit.conftest import Domain

# 2027-01-15T23:59:59.5Z: half a second before a day, inside week 2027-W02 and January
EVE = datetime(2027, 1, 15, 23, 59, 59, 500_000, tzinfo=UTC).timestamp()


class Viewer(Connection):
    """A live connection that keeps what it is sent."""

    transport = "ws"

    def __init__(self) -> None:
        super().__init__()
        self.got: list[dict[str, Any]] = []

    def deliver(self, message: Message) -> None:
        self.got.append(message.payload)

    def boards(self) -> list[dict[str, Any]]:
        return [m for m in self.got if m["type"] == "leaderboard_update"]


def until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
    return value


def score(domain: Domain, who: Principal, board: str = "cup") -> Any:
    scorer = domain.services.scorer
    token = scorer.issue_token(who, "jump", Origin(), board)
    return scorer.submit(who, token.action_token, Origin())


def make_cup(domain: Domain, periods: tuple[str, ...] = ("daily", "weekly")) -> None:
    catalog = {"jump": {"points": 3}}
    domain.services.boards.create(None, Origin(), "cup", "Cup", catalog, periods, "UTC")


def test_a_day_rolls_over_while_players_score(domain: Domain) -> None:
    make_cup(domain)
    domain.clock.now = EVE
    ann, bob = domain.player("ann"), domain.player("bob")
    streams = domain.services.streams
    live = streams.live("cup", p.Period.DAILY)
    viewer = Viewer()
    live.hub.attach(viewer)
    score(domain, ann)
    score(domain, ann)
    score(domain, bob)
    last = until(lambda: (b := viewer.boards()) and b[-1]["data"]["total_players"] == 2 and b[-1])
    assert last["data"]["period_key"] == "2027-01-15"
    before = [(e["user_id"], e["score"]) for e in last["data"]["leaderboard"]]
    assert before == [(ann.user_id, 6), (bob.user_id, 3)]

    domain.clock.advance(0.6)  # 00:00:00.1 the next day
    assert streams.roll_over(live)
    rolled = until(lambda: (b := viewer.boards()) and b[-1]["data"]["period_key"] == "2027-01-16" and b[-1])
    assert rolled["data"]["leaderboard"] == [] and rolled["data"]["total_players"] == 0
    assert rolled["seq"] > last["seq"]  # clients drop anything not newer: the new day is newer
    assert not streams.roll_over(live)  # once

    score(domain, bob)
    fresh = until(lambda: (b := viewer.boards()) and b[-1]["data"]["total_players"] == 1 and b[-1])
    assert [(e["user_id"], e["score"]) for e in fresh["data"]["leaderboard"]] == [(bob.user_id, 3)]
    assert fresh["data"]["period_key"] == "2027-01-16" and fresh["seq"] > rolled["seq"]

    # the ended day reads as the board last showed it, from the database
    info, day = streams.stream("cup", "daily", "2027-01-15")
    page, _ = streams.past_page(info, day, 10, 0)
    assert [(e["user_id"], e["score"]) for e in page["leaderboard"]] == before
    # the ended day's rank index goes an hour after the day (its standings stay in the database)
    index = streams.writer(day).standings.index
    if index is not None:
        ends = datetime(2027, 1, 16, tzinfo=UTC).timestamp() + 3600
        for key in (index.zset, index.users, index.ready_key):
            assert index.redis.expiretime(key) == ends, key
    # the week goes on: both days count in it
    _, week = streams.stream("cup", "weekly")
    standings, total = streams.top(week, True, 10, 0)
    assert [(s.user_id, s.score) for s in standings] == [(ann.user_id, 6), (bob.user_id, 6)] and total == 2


def test_each_days_scores_are_the_sum_of_its_events(domain: Domain) -> None:
    """Actions on both sides of midnight: every day's rows equal the points of its events."""
    make_cup(domain, ("daily",))
    domain.clock.now = EVE - 2
    players = [domain.player(f"p{i}") for i in range(3)]
    for step in range(8):  # 0.5 s apart, across midnight
        score(domain, players[step % 3])
        domain.clock.advance(0.5)
    engine = domain.services.engine
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT period_key, user_id, score FROM board_scores WHERE board = 'cup' AND period = 'daily'"
            )
        ).all()
        events = conn.execute(
            text("SELECT user_id, points, created_at FROM score_events WHERE board = 'cup'")
        ).all()
    summed: dict[tuple[str, int], int] = {}
    for uid, points, at in events:
        at = at if isinstance(at, datetime) else datetime.fromisoformat(at)
        key = p.key_at(p.Period.DAILY, at.replace(tzinfo=at.tzinfo or UTC), p.zone("UTC"))
        summed[(key, uid)] = summed.get((key, uid), 0) + points
    assert {(k, u): s for k, u, s in rows} == summed
    assert {k for k, _ in summed} == {"2027-01-15", "2027-01-16"}
    assert sum(summed.values()) == 8 * 3


def test_a_change_on_one_board_reaches_only_its_viewers(domain: Domain) -> None:
    make_cup(domain)
    domain.services.boards.create(None, Origin(), "other", "Other", {"jump": {"points": 1}}, (), "UTC")
    streams = domain.services.streams
    ann = domain.player("ann")
    watchers = {name: Viewer() for name in ("cup/all", "cup/daily", "other/all", "main/all")}
    for name, viewer in watchers.items():
        board, period = name.split("/")
        streams.live(board, p.Period(period)).hub.attach(viewer)
    snapshots = {name: len(v.boards()) for name, v in watchers.items()}
    score(domain, ann)
    until(lambda: len(watchers["cup/all"].boards()) > snapshots["cup/all"])
    until(lambda: len(watchers["cup/daily"].boards()) > snapshots["cup/daily"])
    time.sleep(0.2)  # would anything else arrive?
    assert len(watchers["other/all"].boards()) == snapshots["other/all"]
    assert len(watchers["main/all"].boards()) == snapshots["main/all"]
    update = watchers["cup/daily"].boards()[-1]
    assert (update["data"]["board"], update["data"]["period"]) == ("cup", "daily")
