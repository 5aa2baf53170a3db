"""Sign in with GitHub against a local stand-in for GitHub's documented OAuth and REST API
(tests/github_standin.py), because GitHub itself is not reachable from the test machine. The app
talks to it over real HTTP, through the GITHUB_* endpoint settings (SPEC §9)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import GENEROUS
from tests.github_standin import GitHubStandIn, GitHubUser
from tests.web.test_oidc_login import flashed, query, signed_in_as

APP = "http://localhost"


@pytest.fixture
def mode() -> str:
    return "embedded"


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubStandIn]:
    standin = GitHubStandIn("Iv1.our-client-id", "our-client-secret")
    yield standin
    standin.close()


@pytest.fixture
def app(make_app: Any, github: GitHubStandIn) -> Flask:
    github.decision = "allow"
    return make_app(**GENEROUS, **github.settings())


def sign_in_with_github(client: FlaskClient, github: GitHubStandIn, login: str) -> Any:
    github.next_login = login
    r = client.get("/login/github/start")
    assert r.status_code == 302
    back = requests.get(r.headers["Location"], allow_redirects=False, timeout=10).headers["Location"]
    assert back.startswith(f"{APP}/login/github/callback?")
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}")


def test_the_authorize_redirect_carries_our_client_id_scopes_state_and_pkce(
    app: Flask, github: GitHubStandIn
) -> None:
    r = app.test_client().get("/login/github/start")
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{github.url}/login/oauth/authorize"
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert params["client_id"] == "Iv1.our-client-id" and params["response_type"] == "code"
    assert params["scope"] == "read:user user:email"
    assert params["redirect_uri"] == f"{APP}/login/github/callback"
    assert len(params["state"]) >= 20 and params["code_challenge_method"] == "S256"
    assert "nonce" not in params  # not an OpenID provider


def test_sign_in_keeps_only_the_verified_primary_email(app: Flask, github: GitHubStandIn) -> None:
    github.users["octo-cat"] = GitHubUser(
        583231,
        "octo-cat",
        "The Octocat",
        [
            {"email": "old@example.com", "primary": False, "verified": True, "visibility": None},
            {"email": "octo@example.com", "primary": True, "verified": True, "visibility": "public"},
        ],
    )
    browser = app.test_client()
    assert "Welcome, The Octocat!" in flashed(browser, sign_in_with_github(browser, github, "octo-cat"))
    uid = signed_in_as(browser)
    assert query(app, "SELECT username, display_name, email FROM users WHERE id = :u", u=uid) == [
        ("octo-cat", "The Octocat", "octo@example.com")
    ]
    assert query(app, "SELECT provider, subject, email FROM oauth_accounts") == [
        ("github", "583231", "octo@example.com")
    ]
    # GitHub logins can change; the id is the subject: a renamed account is the same player.
    github.users["octo-renamed"] = GitHubUser(583231, "octo-renamed", "The Octocat", [])
    again = app.test_client()
    sign_in_with_github(again, github, "octo-renamed")
    assert signed_in_as(again) == uid


def test_an_unverified_primary_email_is_not_kept(app: Flask, github: GitHubStandIn) -> None:
    github.users["mona"] = GitHubUser(
        9919,
        "mona",
        None,
        [
            {"email": "mona@example.com", "primary": True, "verified": False, "visibility": "private"},
            {"email": "lisa@example.com", "primary": False, "verified": True, "visibility": None},
        ],
    )
    browser = app.test_client()
    sign_in_with_github(browser, github, "mona")
    assert query(
        app, "SELECT username, display_name, email FROM users WHERE id = :u", u=signed_in_as(browser)
    ) == [("mona", "mona", None)]


def test_a_cancelled_authorization_and_a_bad_code_land_on_sign_in(app: Flask, github: GitHubStandIn) -> None:
    browser = app.test_client()
    github.decision = "deny"
    page = flashed(browser, sign_in_with_github(browser, github, "nobody"))
    assert "Signing in with GitHub failed: sign-in was cancelled." in page
    github.decision = "allow"
    r = browser.get("/login/github/start")
    state = parse_qs(urlsplit(r.headers["Location"]).query)["state"][0]
    page = flashed(browser, browser.get(f"/login/github/callback?code=made-up&state={state}"))
    assert "Signing in with GitHub failed: refused the sign-in (bad_verification_code)" in page
    assert signed_in_as(browser) is None
    assert query(app, "SELECT count(*) FROM users") == [(0,)]
    reasons = query(app, "SELECT reason_code FROM audit_log WHERE event = 'auth.login_failed' ORDER BY id")
    assert reasons == [("ACCESS_DENIED",), ("PROVIDER_ERROR",)]
