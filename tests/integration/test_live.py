"""Live top 10 (SPEC §7): WebSocket and SSE across workers and hosts, and in one process."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.integration.conftest import Gunicorn, RedisServer, wait_until
from tests.live import LiveClient, board_of

PASSWORD = "password123"


def register(base: str, name: str) -> tuple[int, str]:
    r = requests.post(
        f"{base}/api/v1/auth/register",
        timeout=10,
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    assert r.status_code == 201, r.text
    return r.json()["user"]["id"], r.json()["access_token"]


def score(
    base: str, token: str, times: int = 1, action_type: str = "complete_task", board: str = "main"
) -> dict[str, Any]:
    """Perform an action `times` times on a board (token, submit, then the next token)."""
    auth = {"Authorization": f"Bearer {token}"}
    body = {"action_type": action_type, "board": board}
    r = requests.post(f"{base}/api/v1/actions/token", json=body, headers=auth, timeout=10)
    assert r.status_code == 201, r.text
    action = r.json()["action_token"]
    data: dict[str, Any] = {}
    for _ in range(times):
        r = requests.post(f"{base}/api/v1/scores", json={"action_token": action}, headers=auth, timeout=10)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        action = data["next_action_token"]
    return data


def api_board(base: str) -> dict[str, Any]:
    return requests.get(f"{base}/api/v1/leaderboard", timeout=10).json()


def sse_on_every_worker(base: str, workers: int = 2, rounds: int = 15) -> list[LiveClient]:
    """SSE clients, opened in concurrent bursts, until each worker serves one (X-Served-By tells).

    The kernel hands a connection to whichever worker accepts first, so a worker busy starting up
    can miss whole bursts; the pauses give it time to come back to accept().
    """
    clients: list[LiveClient] = []
    with ThreadPoolExecutor(8) as pool:
        for _ in range(rounds):
            if len({c.served_by for c in clients}) >= workers:
                break
            clients += pool.map(lambda _: LiveClient(base, "sse"), range(8))
            time.sleep(0.2)
    assert len({c.served_by for c in clients}) == workers, "could not reach every worker"
    return clients


def converged(clients: list[LiveClient], base: str) -> bool:
    """Every client's latest board is the API's board."""
    want = board_of(api_board(base))
    return all(c.last_board() is not None and board_of(c.last_board()) == want for c in clients)


def seqs_increase(client: LiveClient) -> bool:
    seqs = [m["seq"] for m in client.of_type("leaderboard_update")]
    return all(a < b for a, b in zip(seqs, seqs[1:], strict=False))


def test_a_score_on_one_host_reaches_every_client_on_both_hosts(hosts: Any) -> None:
    a, b = hosts(2)
    clients = [*sse_on_every_worker(a.url), *sse_on_every_worker(b.url)]
    clients += [LiveClient(h.url, "ws") for h in (a, b) for _ in range(3)]
    for c in clients:
        c.wait_for(lambda m: m["type"] == "leaderboard_update")  # the snapshot on connect
    ann, ann_token = register(a.url, "ann")
    score(a.url, ann_token)
    for c in clients:
        c.wait_for(lambda m: any(e["user_id"] == ann for e in m.get("data", {}).get("leaderboard", [])))
    bob, bob_token = register(b.url, "bob")
    score(b.url, bob_token, times=2)
    wait_until(lambda: converged(clients, a.url), what="every client on the API's board")
    assert board_of(api_board(a.url)) == board_of(api_board(b.url)) == [(1, bob, 20), (2, ann, 10)]
    assert all(seqs_increase(c) for c in clients)


def test_the_embedded_mode_delivers_to_every_client(embedded_host: Any) -> None:
    host = embedded_host()
    clients = [LiveClient(host.url, t) for t in ("ws", "ws", "sse", "sse")]
    ann, token = register(host.url, "ann")
    score(host.url, token, times=3)
    wait_until(lambda: converged(clients, host.url), what="every client on the API's board")
    assert board_of(clients[0].last_board()) == [(1, ann, 30)]
    assert all(seqs_increase(c) for c in clients)


@pytest.fixture(params=["embedded", "production"])
def host(request: pytest.FixtureRequest) -> Gunicorn:
    if request.param == "embedded":
        return request.getfixturevalue("embedded_host")()
    return request.getfixturevalue("hosts")(1)[0]


def test_score_update_goes_only_to_the_scorer_and_reauth_works(host: Gunicorn) -> None:
    ann, ann_token = register(host.url, "ann")
    bob, bob_token = register(host.url, "bob")
    mine = LiveClient(host.url, "ws", token=ann_token)
    bobs = LiveClient(host.url, "ws")
    watcher = LiveClient(host.url, "sse")
    bobs.send({"type": "auth", "token": bob_token})
    assert bobs.wait_for(lambda m: m["type"] == "auth_ok")["user_id"] == bob
    score(host.url, ann_token, times=2)
    update = mine.wait_for(lambda m: m["type"] == "score_update" and m["data"]["new_score"] == 20)
    assert update["data"] == {
        "user_id": ann,
        "new_score": 20,
        "points_gained": 10,
        "rank": 1,
        "previous_rank": 1,
        "board": "main",
        "period": "all",
        "period_key": "all",
    }
    for other in (bobs, watcher):
        other.wait_for(lambda m: m["type"] == "leaderboard_update" and board_of(m) == [(1, ann, 20)])
        assert other.of_type("score_update") == []
    bobs.send({"type": "auth", "token": "not-a-token"})
    error = bobs.wait_for(lambda m: m["type"] == "error")
    assert error["error"]["code"] == "UNAUTHORIZED"
    bobs.send({"type": "ping"})
    bobs.wait_for(lambda m: m["type"] == "pong")  # still open, as a watcher
    fresh = requests.post(
        f"{host.url}/api/v1/auth/login", json={"username": "bob", "password": PASSWORD}, timeout=10
    ).json()["access_token"]
    bobs.send({"type": "auth", "token": fresh})
    wait_until(lambda: len(bobs.of_type("auth_ok")) == 2, what="re-authentication")
    score(host.url, fresh)
    assert bobs.wait_for(lambda m: m["type"] == "score_update")["data"]["user_id"] == bob


def test_beyond_the_connection_limit_the_server_closes_with_1013(embedded_host: Any) -> None:
    host = embedded_host(WS_CONNECTION_LIMIT="2")
    first, second = LiveClient(host.url, "ws"), LiveClient(host.url, "ws")
    second.wait_for(lambda m: m["type"] == "leaderboard_update")  # both slots taken
    third = LiveClient(host.url, "ws")
    assert third.closed.wait(10) and third.close_code == 1013
    assert first.wait_for(lambda m: m["type"] == "leaderboard_update")
    first.send({"type": "ping"})
    first.wait_for(lambda m: m["type"] == "pong")


@pytest.mark.parametrize("mode", ["production"])  # make_app first: its clean-up precedes the hosts'
def test_a_burst_of_changes_is_coalesced_ending_on_the_final_state(make_app: Any, hosts: Any) -> None:
    (host,) = hosts(1)
    players = [register(host.url, f"burst{i}")[0] for i in range(12)]
    clients = [LiveClient(host.url, "ws"), LiveClient(host.url, "sse")]
    for c in clients:
        c.wait_for(lambda m: m["type"] == "leaderboard_update")
    app = make_app(REDIS_NAMESPACE=host.env["REDIS_NAMESPACE"])
    moderation = app.extensions["scoreboard"].moderation
    before = [len(c.of_type("leaderboard_update")) for c in clients]
    started = time.monotonic()
    with app.app_context():
        for i in range(200):
            moderation.adjust(None, players[i % 12], 1 + i % 7, "burst")
    elapsed = time.monotonic() - started
    wait_until(lambda: converged(clients, host.url), what="the final state")
    for c, b in zip(clients, before, strict=True):
        received = len(c.of_type("leaderboard_update")) - b
        assert received <= 10 * elapsed + 5 and received < 100, (received, elapsed)
        assert seqs_increase(c)


def test_pushes_resume_after_redis_dies_and_returns_empty(hosts: Any, private_redis: RedisServer) -> None:
    a, b = hosts(2, redis=private_redis.url)
    clients = [LiveClient(h.url, t) for h in (a, b) for t in ("ws", "sse")]
    ann, ann_token = register(a.url, "ann")
    score(a.url, ann_token)
    wait_until(lambda: converged(clients, a.url), what="first board")
    private_redis.stop()
    bob, bob_token = register(b.url, "bob")
    assert score(b.url, bob_token, times=2)["new_score"] == 20  # scores still commit
    private_redis.start()  # empty
    truth = [(1, bob, 20), (2, ann, 10)]
    wait_until(
        lambda: (
            board_of(api_board(a.url)) == board_of(api_board(b.url)) == truth and converged(clients, a.url)
        ),
        timeout=30,
        what="every host and client on the truth",
        explain=lambda: (
            board_of(api_board(a.url)),
            board_of(api_board(b.url)),
            [(c.transport, c.last_board() and c.last_board()["seq"]) for c in clients],
        ),
    )
    score(a.url, ann_token, times=2)  # and live pushes work again, across hosts
    wait_until(
        lambda: converged(clients, a.url) and board_of(clients[-1].last_board())[0][1] == ann,
        what="pushes after the outage",
    )
