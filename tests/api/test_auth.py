"""Accounts and the OAuth server as an API client sees them (SPEC §6, §9, §10)."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import GENEROUS
from tests.helpers import Player, error_code, oauth_error

WEB = "scoreboard-web"
TOKEN_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token", "scope"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The SPEC §6 error shape with this status and code; returns the error object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert error_code(response) == code
    error = response.get_json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "retry_after"}
    return error


def refresh(client: FlaskClient, refresh_token: str) -> Any:
    return client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": WEB}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def craft_token(app: Flask, user_id: int, username: str, scope: str) -> str:
    with app.app_context():
        token, _ = app.extensions["scoreboard"].access.issue(user_id, username, scope, WEB, "crafted")
    return token


def b64json(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def b64part(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# -- register -------------------------------------------------------------------------------


def test_register_returns_a_token_response_and_the_user(client: FlaskClient) -> None:
    r = client.post(
        "/api/v1/auth/register",
        json={"username": "Ann_1", "email": "Ann@Example.com", "password": "correct horse"},
    )
    assert r.status_code == 201
    body = r.get_json()
    assert TOKEN_FIELDS <= set(body)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"].split() == ["read:leaderboard", "update:score"]
    assert body["user"]["username"] == "Ann_1"
    assert body["user"]["email"] == "ann@example.com"
    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["username"] == "Ann_1"


@pytest.mark.parametrize(
    "username, email",
    [
        ("ann", "other@example.com"),  # same username
        ("ANN", "other@example.com"),  # usernames are case-insensitive
        ("bob", "ann@example.com"),  # same email
        ("bob", "ANN@example.COM"),  # emails too
    ],
)
def test_register_refuses_a_taken_username_or_email(client: FlaskClient, username: str, email: str) -> None:
    Player(client, "ann")
    r = client.post(
        "/api/v1/auth/register", json={"username": username, "email": email, "password": "password123"}
    )
    assert_error(r, 409, "ALREADY_EXISTS")
    login = client.post("/api/v1/auth/login", json={"username": username, "password": "password123"})
    assert login.status_code == (200 if username.lower() == "ann" else 401)


# -- login ----------------------------------------------------------------------------------


def test_login_returns_a_fresh_token_pair(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    r = client.post("/api/v1/auth/login", json={"username": "ANN", "password": ann.password})
    assert r.status_code == 200
    body = r.get_json()
    assert TOKEN_FIELDS <= set(body) and body["token_type"] == "Bearer"
    assert body["refresh_token"] != ann.tokens["refresh_token"]
    assert client.get("/api/v1/me", headers=bearer(body["access_token"])).get_json()["user_id"] == ann.id


def test_login_with_a_wrong_password_or_unknown_user_is_unauthorized(client: FlaskClient) -> None:
    Player(client, "ann")
    assert_error(
        client.post("/api/v1/auth/login", json={"username": "ann", "password": "wrong-password"}),
        401,
        "UNAUTHORIZED",
    )
    assert_error(
        client.post("/api/v1/auth/login", json={"username": "nobody", "password": "password123"}),
        401,
        "UNAUTHORIZED",
    )


def test_login_is_throttled_after_repeated_failures(make_app: Any) -> None:
    app = make_app(RATELIMIT_LOGIN_FAILURES="3/15 minutes")
    client = app.test_client()
    ann = Player(client, "ann")
    Player(client, "bob")
    for _ in range(3):
        assert_error(
            client.post("/api/v1/auth/login", json={"username": "ann", "password": "nope-nope"}),
            401,
            "UNAUTHORIZED",
        )
    r = client.post("/api/v1/auth/login", json={"username": "Ann", "password": ann.password})
    error = assert_error(r, 429, "RATE_LIMITED")
    assert isinstance(error["retry_after"], int) and error["retry_after"] > 0
    assert r.headers["Retry-After"] == str(error["retry_after"])
    # Another account is not affected.
    assert (
        client.post("/api/v1/auth/login", json={"username": "bob", "password": "password123"}).status_code
        == 200
    )


# -- access tokens --------------------------------------------------------------------------


def test_access_token_is_a_jwt_verifiable_with_the_published_keys(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    token = ann.tokens["access_token"]
    jwks = client.get("/.well-known/jwks.json").get_json()
    header = b64json(token.split(".")[0])
    assert header["alg"] == "RS256"
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    assert all("d" not in k for k in jwks["keys"]), "private key material published"
    claims = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert {"sub", "username", "scope", "jti", "iss", "aud", "iat", "exp"} <= set(claims)
    assert claims["sub"] == str(ann.id)
    assert claims["username"] == "ann"
    assert claims["scope"] == ann.tokens["scope"]
    assert claims["exp"] - claims["iat"] == 15 * 60
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert claims["iss"] == metadata["issuer"]
    assert claims["aud"]
    other = Player(client, "bob").tokens["access_token"]
    assert jwt.decode(other, KeySet.import_key_set(jwks)).claims["jti"] != claims["jti"]


def test_metadata_describes_the_authorization_server(client: FlaskClient) -> None:
    r = client.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200
    meta = r.get_json()
    for field in (
        "issuer",
        "token_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "grant_types_supported",
        "code_challenge_methods_supported",
    ):
        assert meta[field], field
    assert meta["token_endpoint"].endswith("/oauth/token")
    assert meta["revocation_endpoint"].endswith("/oauth/revoke")
    assert meta["jwks_uri"].endswith("/.well-known/jwks.json")
    assert {"refresh_token", "authorization_code"} <= set(meta["grant_types_supported"])
    assert "S256" in meta["code_challenge_methods_supported"]


def test_a_read_only_token_may_not_touch_scores(app: Flask, client: FlaskClient) -> None:
    ann = Player(client, "ann")
    token = ann.action_token()
    reader = bearer(craft_token(app, ann.id, "ann", "read:leaderboard"))
    assert client.get("/api/v1/me", headers=reader).status_code == 200
    assert_error(
        client.post("/api/v1/actions/token", json={"action_type": "complete_task"}, headers=reader),
        403,
        "FORBIDDEN",
    )
    assert_error(
        client.post("/api/v1/scores", json={"action_token": token}, headers=reader), 403, "FORBIDDEN"
    )
    # The refusal did not burn the token: its owner's full-scope token still scores with it.
    assert ann.submit(token).status_code == 200


def _tampered(token: str) -> str:
    head, payload, sig = token.split(".")
    claims = b64json(payload)
    claims["scope"] = "read:leaderboard update:score admin"
    return f"{head}.{b64part(claims)}.{sig}"


def _resigned_sig(token: str) -> str:
    head, payload, sig = token.split(".")
    return f"{head}.{payload}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"


@pytest.mark.parametrize(
    "make_bad",
    [
        pytest.param(_tampered, id="tampered-claims"),
        pytest.param(_resigned_sig, id="broken-signature"),
        pytest.param(lambda t: "garbage", id="garbage"),
        pytest.param(lambda t: "a.b.c", id="three-garbage-parts"),
        pytest.param(lambda t: f"{b64part([1])}.{t.split('.', 1)[1]}", id="header-not-an-object"),
        pytest.param(
            lambda t: f"{b64part({'alg': 'RS256', 'kid': []})}.{t.split('.', 1)[1]}", id="kid-a-list"
        ),
        pytest.param(lambda t: f"{b64part({'alg': 'none'})}.{t.split('.')[1]}.", id="alg-none"),
    ],
)
def test_an_invalid_bearer_token_is_unauthorized(client: FlaskClient, make_bad: Any) -> None:
    ann = Player(client, "ann")
    bad = bearer(make_bad(ann.tokens["access_token"]))
    for r in (
        client.get("/api/v1/me", headers=bad),
        client.get("/oauth/userinfo", headers=bad),
        client.post("/api/v1/actions/token", json={"action_type": "complete_task"}, headers=bad),
    ):
        assert_error(r, 401, "UNAUTHORIZED")


def test_an_expired_access_token_is_unauthorized(make_app: Any) -> None:
    client = make_app(**GENEROUS, ACCESS_TOKEN_TTL=-60).test_client()
    ann = Player(client, "ann")
    assert_error(client.get("/api/v1/me", headers=ann.auth), 401, "UNAUTHORIZED")
    assert_error(ann.post("/api/v1/actions/token", {"action_type": "complete_task"}), 401, "UNAUTHORIZED")
    # The refresh token still gets the player a (here: again short-lived) pair.
    assert refresh(client, ann.tokens["refresh_token"]).status_code == 200


# -- refresh rotation and revocation --------------------------------------------------------


def test_refresh_rotates_the_pair(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    r = refresh(client, ann.tokens["refresh_token"])
    assert r.status_code == 200
    new = r.get_json()
    assert TOKEN_FIELDS <= set(new) and new["token_type"] == "Bearer"
    assert new["refresh_token"] != ann.tokens["refresh_token"]
    assert new["access_token"] != ann.tokens["access_token"]
    assert new["scope"] == ann.tokens["scope"]
    assert client.get("/api/v1/me", headers=bearer(new["access_token"])).get_json()["user_id"] == ann.id
    oauth_error(refresh(client, ann.tokens["refresh_token"]), 400, "invalid_grant")


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    first = ann.tokens["refresh_token"]
    second = refresh(client, first).get_json()["refresh_token"]
    third = refresh(client, second).get_json()["refresh_token"]
    other_session = client.post("/api/v1/auth/login", json={"username": "ann", "password": ann.password})
    oauth_error(refresh(client, first), 400, "invalid_grant")  # a thief replays an old token
    oauth_error(refresh(client, third), 400, "invalid_grant")  # the newest of that family is dead too
    # A separate sign-in is a separate family and keeps working.
    assert refresh(client, other_session.get_json()["refresh_token"]).status_code == 200


@pytest.mark.parametrize("mode", ["production"])  # the embedded mode serves one request at a time
def test_one_refresh_token_used_concurrently_yields_at_most_one_pair(app: Flask, mode: str) -> None:
    ann = Player(app.test_client(), "ann")
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def use() -> None:
        client = app.test_client()
        barrier.wait()
        results.append(refresh(client, ann.tokens["refresh_token"]))

    threads = [threading.Thread(target=use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code in (200, 400) for r in results), [r.get_json() for r in results]
    assert len([r for r in results if r.status_code == 200]) <= 1
    assert refresh(app.test_client(), ann.tokens["refresh_token"]).status_code == 400


def test_a_refresh_token_cannot_widen_its_scope(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    r = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": WEB,
            "refresh_token": ann.tokens["refresh_token"],
            "scope": "read:leaderboard update:score admin",
        },
    )
    oauth_error(r, 400, "invalid_scope")
    assert refresh(client, ann.tokens["refresh_token"]).status_code == 200


def test_a_refresh_token_may_narrow_its_scope(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    r = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": WEB,
            "refresh_token": ann.tokens["refresh_token"],
            "scope": "read:leaderboard",
        },
    )
    assert r.status_code == 200
    narrow = bearer(r.get_json()["access_token"])
    assert r.get_json()["scope"] == "read:leaderboard"
    assert_error(
        client.post("/api/v1/actions/token", json={"action_type": "complete_task"}, headers=narrow),
        403,
        "FORBIDDEN",
    )


def test_revoking_a_refresh_token_makes_it_unusable(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    r = client.post("/oauth/revoke", data={"token": ann.tokens["refresh_token"], "client_id": WEB})
    assert r.status_code == 200
    oauth_error(refresh(client, ann.tokens["refresh_token"]), 400, "invalid_grant")


def test_revoking_an_access_token_ends_its_refresh_family(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    r = client.post(
        "/oauth/revoke",
        data={"token": ann.tokens["access_token"], "client_id": WEB, "token_type_hint": "access_token"},
    )
    assert r.status_code == 200
    oauth_error(refresh(client, ann.tokens["refresh_token"]), 400, "invalid_grant")


def test_revoking_an_unknown_token_answers_200_and_changes_nothing(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    r = client.post("/oauth/revoke", data={"token": "not-a-token-we-issued", "client_id": WEB})
    assert r.status_code == 200  # RFC 7009 §2.2
    assert refresh(client, ann.tokens["refresh_token"]).status_code == 200


# -- userinfo -------------------------------------------------------------------------------


def test_userinfo_describes_the_bearer(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    r = client.get("/oauth/userinfo", headers=ann.auth)
    assert r.status_code == 200
    assert r.get_json() == {"sub": str(ann.id), "username": "ann", "email": "ann@example.com"}
    assert_error(client.get("/oauth/userinfo"), 401, "UNAUTHORIZED")


# -- the caller's own profile ----------------------------------------------------------------


def _board_entry(client: FlaskClient, user_id: int) -> dict[str, Any] | None:
    board = client.get("/api/v1/leaderboard?limit=100").get_json()["leaderboard"]
    return next((e for e in board if e["user_id"] == user_id), None)


def test_me_needs_a_caller(client: FlaskClient) -> None:
    assert_error(client.get("/api/v1/me"), 401, "UNAUTHORIZED")
    assert_error(client.patch("/api/v1/me", json={"display_name": "x"}), 401, "UNAUTHORIZED")


def test_me_shows_profile_score_and_rank(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    before = ann.get("/api/v1/me").get_json()
    assert before["username"] == "ann" and before["score"] == 0 and before["rank"] is None
    ann.score(2)
    after = ann.get("/api/v1/me").get_json()
    assert after["score"] == 20 and after["rank"] == 1 and after["percentile"] == 100.0


def test_renaming_shows_on_the_leaderboard(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    ann.score()
    assert _board_entry(client, ann.id)["display_name"] == "ann"  # type: ignore[index]
    r = ann.client.patch("/api/v1/me", json={"display_name": "  Ann   the Great "}, headers=ann.auth)
    assert r.status_code == 200
    assert r.get_json()["display_name"] == "Ann the Great"
    assert ann.get("/api/v1/me").get_json()["display_name"] == "Ann the Great"
    entry = _board_entry(client, ann.id)
    assert entry is not None
    assert entry["display_name"] == "Ann the Great" and entry["username"] == "ann"


def test_hiding_takes_the_player_off_the_board_and_unhiding_brings_them_back(client: FlaskClient) -> None:
    ann, bob = Player(client, "ann"), Player(client, "bob")
    ann.score(2)
    bob.score(1)
    assert _board_entry(client, ann.id)["rank"] == 1  # type: ignore[index]
    r = client.patch("/api/v1/me", json={"is_hidden": True}, headers=ann.auth)
    assert r.status_code == 200 and r.get_json()["is_hidden"] is True
    assert _board_entry(client, ann.id) is None
    assert _board_entry(client, bob.id)["rank"] == 1  # type: ignore[index]
    assert client.get("/api/v1/leaderboard").get_json()["total_players"] == 1
    assert_error(client.get(f"/api/v1/users/{ann.id}/rank"), 404, "NOT_FOUND")

    r = client.patch("/api/v1/me", json={"is_hidden": False}, headers=ann.auth)
    assert r.status_code == 200 and r.get_json()["is_hidden"] is False
    assert _board_entry(client, ann.id)["rank"] == 1  # type: ignore[index]
    assert client.get(f"/api/v1/users/{ann.id}/rank").get_json()["rank"] == 1
    assert client.get("/api/v1/leaderboard").get_json()["total_players"] == 2


def test_a_key_another_worker_just_created_verifies_at_once(make_app) -> None:  # type: ignore[no-untyped-def]
    """Two workers starting together can each create a signing key; a token signed with the other
    worker's key must verify right away, not after a reload throttle (it answered 401)."""
    first, second = (make_app().extensions["scoreboard"].access for _ in range(2))
    first.load()  # this worker knows one key
    second.rotate()  # the other worker adds its own, newer one and signs with it
    token, _ = second.issue(1, "ann", "read:leaderboard", "scoreboard-web", "family")
    assert first.verify(token)["sub"] == "1"
