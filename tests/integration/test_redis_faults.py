"""Redis is a cache: flushed, restarted empty or down, the board stays right (SPEC §11, §13)."""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_lib
from flask import Flask

from tests.api.board import api_board, db_board, index_board
from tests.conftest import GENEROUS
from tests.helpers import Player, error_code
from tests.integration.conftest import RedisServer, wait_until

pytestmark = pytest.mark.parametrize("mode", ["production"])


@pytest.fixture
def app(make_app: Any, private_redis: RedisServer) -> Flask:
    return make_app(**GENEROUS, REDIS_URL=private_redis.url)


def seeded(app: Flask, client: Any, n: int = 4) -> list[Player]:
    players = [Player(client) for _ in range(n)]
    for i, p in enumerate(players):
        p.score(i + 1)
    return players


def test_rebuild_command_after_flushall_restores_the_same_board(app, client, private_redis) -> None:
    seeded(app, client)
    before = index_board(app)
    assert before == db_board(app) and len(before) == 4
    redis_lib.Redis.from_url(private_redis.url).flushall()
    assert index_board(app) == []
    result = app.test_cli_runner().invoke(args=["leaderboard", "rebuild"])
    assert result.exit_code == 0 and "4 players" in result.output
    assert index_board(app) == before


def test_redis_restarted_empty_rebuilds_by_itself(app, client, private_redis) -> None:
    seeded(app, client)
    before = db_board(app)
    private_redis.stop()
    private_redis.start()  # empty: no persistence
    body = api_board(client, app)  # served from the database meanwhile
    assert [(e["user_id"], e["score"]) for e in body["leaderboard"]] == before
    wait_until(lambda: index_board(app) == before, what="automatic rank index rebuild")


def test_with_redis_down_scores_still_commit_and_tokens_stay_single_use(app, client, private_redis) -> None:
    ann, bob = seeded(app, client, 2)
    token = ann.action_token()
    private_redis.stop()
    r = ann.submit(token)
    assert r.status_code == 200
    data = r.get_json()["data"]
    assert data["new_score"] == 20 and data["rank"] == 2  # from the database: bob reached 20 first
    replay = ann.submit(token)
    assert replay.status_code == 409 and error_code(replay) == "TOKEN_ALREADY_USED"
    fresh = ann.submit(data["next_action_token"])
    assert fresh.status_code == 200 and fresh.get_json()["data"]["new_score"] == 30
    assert client.get(f"/api/v1/users/{ann.id}/rank").get_json()["rank"] == 1
    assert client.get("/readyz").status_code == 503
    private_redis.start()
    wait_until(
        lambda: index_board(app) == db_board(app) == [(ann.id, 30), (bob.id, 20)],
        what="index repaired after the outage",
    )
    wait_until(lambda: client.get("/readyz").status_code == 200, what="ready again")
