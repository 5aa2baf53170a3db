"""Boards (SPEC §14) under Redis faults: after an outage, each board stream's rank index agrees
with the database again (SPEC §4, §11), as main's does.

Redis here keeps its data across the restart (AOF, fsync always), as docker-compose runs it:
the index and counters survive, so the writers repair the players whose updates failed instead
of rebuilding everything.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app.boards import periods as p
from app.boards.stream import Stream
from app.extensions import db
from tests.api.test_board_scores import CUP, jump
from tests.conftest import GENEROUS
from tests.helpers import Player, admin_player
from tests.integration.conftest import RedisServer, wait_until
from tests.services import require

pytestmark = pytest.mark.parametrize("mode", ["production"])


class DurableRedis(RedisServer):
    """A private redis-server with AOF on (fsync always): a kill and a start keep its data."""

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: redis_lib.Redis.from_url(self.url).ping(), what="redis-server")


@pytest.fixture
def durable_redis(tmp_path: Path) -> Any:
    require("redis-server", shutil.which("redis-server") is not None)
    server = DurableRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(make_app: Any, durable_redis: DurableRedis) -> Flask:
    return make_app(**GENEROUS, REDIS_URL=durable_redis.url)


def cup_index(app: Flask, period: str = "all") -> list[tuple[int, int]]:
    """The cup's rank index for a current period, in rank order."""
    streams = app.extensions["scoreboard"].streams
    info = streams.info("cup")
    key = p.key_at(p.Period(period), streams.now(), p.zone(info.timezone))
    index = streams.writer(Stream("cup", p.Period(period), key)).standings.index
    standings, _ = index.top(1000)
    return [(s.user_id, s.score) for s in standings]


def cup_db(app: Flask, period: str = "all") -> list[tuple[int, int]]:
    """The cup's standings straight from SQL written here."""
    streams = app.extensions["scoreboard"].streams
    info = streams.info("cup")
    key = p.key_at(p.Period(period), streams.now(), p.zone(info.timezone))
    with app.app_context():
        rows = db.session.execute(
            text(
                "SELECT s.user_id, s.score FROM board_scores s JOIN users u ON u.id = s.user_id"
                " WHERE s.board = 'cup' AND s.period_key = :k AND NOT u.is_banned AND NOT u.is_hidden"
                " ORDER BY s.score DESC, s.score_updated_at ASC, s.user_id ASC"
            ),
            {"k": key},
        )
        return [(r[0], r[1]) for r in rows]


def outage_while_jumping(client: FlaskClient, durable_redis: DurableRedis, ann: Player) -> None:
    durable_redis.stop()
    jump(ann)  # commits to the database; the index placement fails
    time.sleep(0.2)
    durable_redis.start()  # back with its data: the index is ready, the counters are there


def test_a_board_stream_is_repaired_with_the_board_score_not_mains(
    app: Flask, client: FlaskClient, durable_redis: DurableRedis
) -> None:
    """A player whose placement on a board failed during an outage is placed again with their
    score on that board, not their main score."""
    boss = admin_player(app, client)
    assert boss.post("/api/v1/admin/boards", CUP).status_code == 201
    ann = Player(client)
    ann.score(3)  # main: 30
    jump(ann)  # the cup: 3
    assert client.get("/api/v1/boards/cup/leaderboard").status_code == 200  # this process follows cup/all
    assert cup_index(app) == cup_db(app) == [(ann.id, 3)]
    outage_while_jumping(client, durable_redis, ann)
    assert cup_db(app) == [(ann.id, 6)]
    wait_until(
        lambda: cup_index(app) == [(ann.id, 6)],
        timeout=10,
        what="the cup's index repaired",
        explain=lambda: f"index {cup_index(app)}, database {cup_db(app)}",
    )


def test_every_board_stream_written_during_an_outage_is_repaired(
    app: Flask, client: FlaskClient, durable_redis: DurableRedis
) -> None:
    """Every board stream written during an outage is repaired, also those this process only
    writes to and nobody watches here (the cup's daily and weekly keys)."""
    boss = admin_player(app, client)
    assert boss.post("/api/v1/admin/boards", CUP).status_code == 201
    ann, bob = Player(client), Player(client)
    jump(bob, 2)  # the cup: bob 6
    jump(ann)  # ann 3
    for period in ("daily", "weekly"):
        assert cup_index(app, period) == cup_db(app, period) == [(bob.id, 6), (ann.id, 3)]
    outage_while_jumping(client, durable_redis, ann)  # ann 6 in the database
    time.sleep(1.5)  # the broker reconnects (its repair runs), the circuit breaker closes
    jump(bob)  # after the outage: bob 9
    for period in ("daily", "weekly"):
        assert cup_db(app, period) == [(bob.id, 9), (ann.id, 6)]
    wait_until(
        lambda: all(cup_index(app, x) == cup_db(app, x) for x in ("daily", "weekly")),
        timeout=5,
        what="the cup's daily and weekly indexes agree with the database",
        explain=lambda: {x: (cup_index(app, x), cup_db(app, x)) for x in ("daily", "weekly")},
    )


def test_every_current_period_rebuilds_after_redis_comes_back_empty(
    app: Flask, client: FlaskClient, durable_redis: DurableRedis
) -> None:
    """Redis restarted empty: each current period's rank index and counter come back from the
    database (which holds every period's scores), and each stream's seq goes on upwards."""
    boss = admin_player(app, client)
    assert boss.post("/api/v1/admin/boards", CUP).status_code == 201
    ann, bob = Player(client), Player(client)
    jump(bob, 2)
    jump(ann)
    before = {
        x: client.get(f"/api/v1/boards/cup/leaderboard?period={x}").get_json() for x in ("all", "daily")
    }
    redis_lib.Redis.from_url(durable_redis.url).flushall()  # as a restart without persistence leaves it
    jump(ann, 2)  # ann 9, bob 6: the writes find the index gone and rebuild it
    for period in ("all", "daily", "weekly", "monthly"):
        want = cup_db(app, period)
        assert want == [(ann.id, 9), (bob.id, 6)]
        wait_until(
            lambda p=period, w=want: cup_index(app, p) == w,  # type: ignore[misc]
            timeout=10,
            what=f"the cup's {period} index rebuilt",
            explain=lambda p=period: f"index {cup_index(app, p)}, database {cup_db(app, p)}",  # type: ignore[misc]
        )
    for period, old in before.items():
        body = client.get(f"/api/v1/boards/cup/leaderboard?period={period}").get_json()
        assert [e["user_id"] for e in body["leaderboard"]] == [ann.id, bob.id]
        assert body["seq"] > old["seq"], (period, old["seq"], body["seq"])
