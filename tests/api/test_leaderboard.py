"""Ranking (SPEC §4) and the leaderboard endpoints, in both run modes."""

from __future__ import annotations

from flask import Flask

from tests.api.board import api_board, db_board, index_board
from tests.helpers import Player, error_code


def moderation(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["scoreboard"].moderation


def test_higher_score_first_then_who_got_there_first_then_lower_id(app: Flask, client) -> None:
    ann, bob, cat = Player(client), Player(client), Player(client)
    cat.score(2)  # 20 first
    bob.score(1)
    ann.score(2)  # 20, but later than cat
    body = api_board(client, app)
    assert [e["user_id"] for e in body["leaderboard"]] == [cat.id, ann.id, bob.id]
    assert [e["rank"] for e in body["leaderboard"]] == [1, 2, 3]
    assert body["total_players"] == 3
    assert db_board(app) == [(e["user_id"], e["score"]) for e in body["leaderboard"]]
    if index_board(app) is not None:
        assert index_board(app) == db_board(app)


def test_entries_have_the_spec_fields(app: Flask, client) -> None:
    ann = Player(client)
    ann.score()
    body = api_board(client, app)
    assert set(body) == {"leaderboard", "total_players", "last_updated", "seq"}
    entry = body["leaderboard"][0]
    assert set(entry) == {"rank", "user_id", "username", "display_name", "score", "last_updated"}
    assert entry["username"] == ann.username and entry["last_updated"].endswith("Z")
    assert body["last_updated"] == entry["last_updated"]


def test_paging_with_limit_and_offset(app: Flask, client) -> None:
    players = [Player(client) for _ in range(5)]
    for i, p in enumerate(players):
        p.score(i + 1)
    api_board(client, app)
    page = client.get("/api/v1/leaderboard?limit=2&offset=2").get_json()
    assert [e["rank"] for e in page["leaderboard"]] == [3, 4]
    assert [e["user_id"] for e in page["leaderboard"]] == [players[2].id, players[1].id]
    assert page["total_players"] == 5


def test_etag_gives_304_until_the_board_changes(app: Flask, client) -> None:
    ann = Player(client)
    ann.score()
    api_board(client, app)
    first = client.get("/api/v1/leaderboard")
    etag = first.headers["ETag"]
    assert client.get("/api/v1/leaderboard", headers={"If-None-Match": etag}).status_code == 304
    ann.score()
    api_board(client, app)
    changed = client.get("/api/v1/leaderboard", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["seq"] > first.get_json()["seq"]


def test_rank_and_percentile(app: Flask, client) -> None:
    players = [Player(client) for _ in range(4)]
    for i, p in enumerate(players):
        p.score(i + 1)
    api_board(client, app)
    r = client.get(f"/api/v1/users/{players[1].id}/rank").get_json()
    assert r == {
        "user_id": players[1].id,
        "username": players[1].username,
        "score": 20,
        "rank": 3,
        "percentile": 50.0,
        "last_updated": r["last_updated"],
    }
    top = client.get(f"/api/v1/users/{players[3].id}/rank").get_json()
    assert (top["rank"], top["percentile"]) == (1, 100.0)


def test_unranked_player_has_no_rank(client) -> None:
    ann = Player(client)
    r = client.get(f"/api/v1/users/{ann.id}/rank")
    assert r.status_code == 404 and error_code(r) == "NOT_FOUND"
    assert client.get("/api/v1/users/999999/rank").status_code == 404


def test_around_a_player(app: Flask, client) -> None:
    players = [Player(client) for _ in range(7)]
    for i, p in enumerate(players):
        p.score(i + 1)
    api_board(client, app)
    middle = players[3]  # rank 4
    body = client.get(f"/api/v1/leaderboard/around/{middle.id}?radius=1").get_json()
    assert [e["rank"] for e in body["leaderboard"]] == [3, 4, 5]
    assert body["leaderboard"][1]["user_id"] == middle.id
    edge = client.get(f"/api/v1/leaderboard/around/{players[6].id}?radius=2").get_json()
    assert [e["rank"] for e in edge["leaderboard"]] == [1, 2, 3]


def test_ban_hide_adjust_reset_move_the_board_at_once(app: Flask, client) -> None:
    ann, bob, cat = Player(client), Player(client), Player(client)
    ann.score(3)
    bob.score(2)
    cat.score(1)
    mod = moderation(app)
    with app.app_context():
        mod.ban(None, ann.id, "cheating", None)
    assert [e["user_id"] for e in api_board(client, app)["leaderboard"]] == [bob.id, cat.id]
    with app.app_context():
        mod.unban(None, ann.id, "appeal")
        mod.set_hidden(None, bob.id, True, "privacy")
    assert [e["user_id"] for e in api_board(client, app)["leaderboard"]] == [ann.id, cat.id]
    with app.app_context():
        mod.adjust(None, cat.id, 100, "bug compensation")
    board = api_board(client, app)["leaderboard"]
    assert [(e["user_id"], e["score"]) for e in board] == [(cat.id, 110), (ann.id, 30)]
    with app.app_context():
        mod.reset(None, cat.id, "abuse")
    board = api_board(client, app)
    assert [e["user_id"] for e in board["leaderboard"]] == [ann.id]
    assert board["total_players"] == 1
    assert db_board(app) == [(ann.id, 30)]
    if index_board(app) is not None:
        assert index_board(app) == db_board(app)


def test_a_timed_ban_lifts_itself_on_the_next_attempt(app: Flask, client) -> None:
    ann = Player(client)
    ann.score()
    with app.app_context():
        moderation(app).ban(None, ann.id, "cool off", -1)  # already over
    token = ann.action_token()
    assert ann.submit(token).status_code == 200
    assert api_board(client, app)["total_players"] == 1


def test_display_name_changes_show_on_the_board(app: Flask, client) -> None:
    ann = Player(client)
    ann.score()
    r = client.patch("/api/v1/me", json={"display_name": "Ann the Great"}, headers=ann.auth)
    assert r.status_code == 200
    assert api_board(client, app)["leaderboard"][0]["display_name"] == "Ann the Great"


def test_the_plain_leaderboard_url_answers_like_the_view(app: Flask, client) -> None:
    """The parameterless URL is served from memory before Flask: same body, same headers."""
    ann = Player(client)
    ann.score(1)
    view = client.get("/api/v1/leaderboard?limit=10&offset=0", headers={"X-Request-ID": "req-1"})
    fast = client.get("/api/v1/leaderboard", headers={"X-Request-ID": "req-2"})
    assert fast.status_code == view.status_code == 200
    assert fast.data == view.data and fast.get_json()["leaderboard"][0]["user_id"] == ann.id
    assert fast.headers["X-Request-ID"] == "req-2"
    skip = {"X-Request-ID", "Vary", "Content-Length"}

    def same(headers) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return {k: v for k, v in headers if k not in skip}

    assert same(fast.headers) == same(view.headers)
    assert fast.headers["Content-Length"] == str(len(fast.data))
    again = client.get("/api/v1/leaderboard", headers={"If-None-Match": fast.headers["ETag"]})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == fast.headers["ETag"]
    ann.score(1)
    moved = client.get("/api/v1/leaderboard", headers={"If-None-Match": fast.headers["ETag"]})
    assert moved.status_code == 200 and moved.get_json()["leaderboard"][0]["score"] == 20
    head = client.head("/api/v1/leaderboard")  # other methods: Flask
    assert head.status_code == 200 and head.headers["ETag"] == moved.headers["ETag"]


def test_the_plain_leaderboard_url_counts_toward_the_address_limit(make_app) -> None:  # type: ignore[no-untyped-def]
    client = make_app(RATELIMIT_API_PER_IP="4/minute").test_client()
    codes = [client.get("/api/v1/leaderboard").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    assert error_code(client.get("/api/v1/leaderboard")) == "RATE_LIMITED"
