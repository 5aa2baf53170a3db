"""A registered client's authorization-code + PKCE flow through the consent page (both modes)."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import Player, oauth_error
from tests.web.test_admin_page import csrf, sign_in

REDIRECT = "https://bot.example/callback"
VERIFIER = "v" * 64
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


def register_client(app: Flask) -> str:
    result = app.test_cli_runner().invoke(
        args=["oauth-clients", "create", "Score Bot", "--redirect-uri", REDIRECT, "--public"]
    )
    assert result.exit_code == 0, result.output
    return re.search(r"client_id: (\S+)", result.output).group(1)  # type: ignore[union-attr]


def authorize_url(client_id: str, **extra: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "read:leaderboard update:score",
        "state": "xyz",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **extra,
    }
    return "/oauth/authorize?" + urlencode({k: v for k, v in query.items() if v})


def signed_in(app: Flask, client: FlaskClient) -> tuple[Player, FlaskClient]:
    ann = Player(client, "ann")
    browser = app.test_client()
    sign_in(browser, ann)
    return ann, browser


def test_allow_gives_a_code_that_pkce_turns_into_tokens_once(app: Flask, client: FlaskClient) -> None:
    client_id = register_client(app)
    ann, browser = signed_in(app, client)
    url = authorize_url(client_id)
    page = browser.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Allow Score Bot?" in html and "submit scores as you" in html
    answer = browser.post(url, data={"decision": "allow", "csrf_token": csrf(browser, url)})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    params = parse_qs(location.query)
    assert params["state"] == ["xyz"] and params["code"]
    exchange = {
        "grant_type": "authorization_code",
        "code": params["code"][0],
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "code_verifier": VERIFIER,
    }
    wrong = client.post("/oauth/token", data={**exchange, "code_verifier": "w" * 64})
    oauth_error(wrong, 400, "invalid_grant")
    tokens = client.post("/oauth/token", data=exchange)
    assert tokens.status_code == 200, tokens.get_json()
    body = tokens.get_json()
    assert set(body["scope"].split()) == {"read:leaderboard", "update:score"} and body["refresh_token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["username"] == "ann"
    again = client.post("/oauth/token", data=exchange)  # a code is good once
    oauth_error(again, 400, "invalid_grant")


def test_deny_sends_the_user_back_with_access_denied(app: Flask, client: FlaskClient) -> None:
    client_id = register_client(app)
    _, browser = signed_in(app, client)
    url = authorize_url(client_id)
    answer = browser.post(url, data={"decision": "deny", "csrf_token": csrf(browser, url)})
    assert answer.status_code == 302
    params = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert params["error"] == ["access_denied"] and "code" not in params


def test_bad_requests_never_redirect_to_an_unregistered_place(app: Flask, client: FlaskClient) -> None:
    client_id = register_client(app)
    _, browser = signed_in(app, client)
    for url in (
        authorize_url("no-such-client"),
        authorize_url(client_id, redirect_uri="https://evil.example/cb"),
    ):
        page = browser.get(url)
        assert page.status_code == 400 and "This sign-in link is not valid" in page.get_data(as_text=True)
        assert "Location" not in page.headers


@pytest.mark.parametrize(
    "extra, error",
    [
        ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"scope": "read:leaderboard root"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_errors_for_a_valid_client_go_back_on_its_redirect(
    app: Flask, client: FlaskClient, extra: dict[str, str], error: str
) -> None:
    """RFC 6749 §4.1.2.1: with a known client and its registered redirect URI, the error goes there."""
    client_id = register_client(app)
    _, browser = signed_in(app, client)
    answer = browser.get(authorize_url(client_id, **extra))
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    params = parse_qs(location.query)
    assert params["error"] == [error] and params["state"] == ["xyz"] and "code" not in params
    assert params["error_description"][0]


def test_signed_out_goes_to_sign_in_and_a_post_needs_the_csrf_token(app: Flask, client: FlaskClient) -> None:
    client_id = register_client(app)
    url = authorize_url(client_id)
    out = app.test_client().get(url)
    assert out.status_code == 302 and "/login" in out.headers["Location"]
    _, browser = signed_in(app, client)
    forged = browser.post(url, data={"decision": "allow"})
    assert forged.status_code == 400 and "code=" not in forged.headers.get("Location", "")
