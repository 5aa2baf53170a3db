"""Around you (SPEC §15): a player outside the top 10 is pushed their neighbourhood, live, on their
own connections only; real gunicorn (2 workers, production) and the embedded mode."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Gunicorn
from tests.integration.test_live import register, score
from tests.live import LiveClient


@pytest.fixture(params=["embedded", "production"])
def host(request: pytest.FixtureRequest) -> Gunicorn:
    if request.param == "embedded":
        return request.getfixturevalue("embedded_host")()
    return request.getfixturevalue("hosts")(1)[0]


def ranks(message: dict[str, Any]) -> list[tuple[int, int]]:
    return [(e["rank"], e["user_id"]) for e in message["data"]["leaderboard"]]


def test_the_players_around_you_move_when_a_neighbour_scores(host: Gunicorn) -> None:
    ahead = [register(host.url, f"player{i}") for i in range(14)]
    for _, token in ahead:
        score(host.url, token, times=2)  # 20 each: ranks 1-14
    ann, ann_token = register(host.url, "ann")
    score(host.url, ann_token)  # 10: rank 15
    bob, bob_token = register(host.url, "bob")
    score(host.url, bob_token)  # 10, later: rank 16
    mine = LiveClient(host.url, "ws", token=ann_token, params={"around": "3"})
    mine_sse = LiveClient(host.url, "sse", token=ann_token, params={"around": "3"})
    watcher = LiveClient(host.url, "ws", token=bob_token)  # bob, not asking for his neighbourhood
    stranger = LiveClient(host.url, "sse", params={"around": "3"})  # nobody's: nothing to push
    p12, p13, p14 = (uid for uid, _ in ahead[11:14])
    for client in (mine, mine_sse):
        first = client.wait_for(lambda m: m["type"] == "around_update")
        assert first["data"]["user_id"] == ann
        assert ranks(first) == [(12, p12), (13, p13), (14, p14), (15, ann), (16, bob)]
        assert (first["data"]["board"], first["data"]["period"]) == ("main", "all")
    score(host.url, bob_token)  # bob 20: passes ann
    for client in (mine, mine_sse):
        moved = client.wait_for(lambda m: m["type"] == "around_update" and ranks(m)[-1] == (16, ann))
        assert ranks(moved) == [(13, p13), (14, p14), (15, bob), (16, ann)]
    watcher.wait_for(lambda m: m["type"] == "score_update")
    for other in (watcher, stranger):
        assert other.of_type("around_update") == []
