"""Our authorization server as OAuth client libraries see it: Authlib's own client against the app
served by gunicorn (SPEC §6 exception, §9). One server for the module."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from tests.conftest import ROOT
from tests.integration.conftest import Gunicorn, embedded_env
from tests.integration.test_live import PASSWORD, register

REDIRECT = "https://bot.example/callback"
SCOPE = "read:leaderboard update:score"


class Server:
    """The app under gunicorn, and `flask` commands run against the same database."""

    def __init__(self, gunicorn: Gunicorn):
        self.gunicorn = gunicorn
        self.url = gunicorn.url

    def flask(self, *args: str) -> str:
        flask = str(Path(sys.executable).with_name("flask"))
        done = subprocess.run(
            [flask, "--app", "wsgi:app", *args],
            cwd=ROOT,
            env=self.gunicorn.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def new_client(self, name: str, public: bool) -> tuple[str, str | None]:
        out = self.flask(
            "oauth-clients", "create", name, "--redirect-uri", REDIRECT, *(["--public"] * public)
        )
        client_id = re.search(r"client_id: (\S+)", out).group(1)  # type: ignore[union-attr]
        secret = re.search(r"client_secret: (\S+)", out)
        return client_id, secret.group(1) if secret else None


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("oauth-server")
    gunicorn = Gunicorn(embedded_env(tmp / "instance", sqlite_template), tmp / "gunicorn.log", workers=1)
    gunicorn.start()
    yield Server(gunicorn)
    gunicorn.stop()


@pytest.fixture(scope="module")
def metadata(server: Server) -> dict[str, Any]:
    r = requests.get(f"{server.url}/.well-known/oauth-authorization-server", timeout=10)
    assert r.status_code == 200
    return r.json()


def browser_for(base: str, username: str) -> requests.Session:
    """A signed-in browser session (the /login form, CSRF token included)."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = browser.post(
        f"{base}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302, r.text[:300]
    return browser


def consent(browser: requests.Session, url: str, decision: str = "allow") -> str:
    """Press Allow (or Deny) on our consent page; returns where it sends the browser."""
    page = browser.get(url, timeout=10)
    assert page.status_code == 200 and "Allow" in page.text, page.text[:300]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = browser.post(url, data={"decision": decision, "csrf_token": token}, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text[:300]
    return r.headers["Location"]


def code_flow(
    server: Server, metadata: dict[str, Any], username: str, public: bool
) -> tuple[OAuth2Session, dict[str, Any], str, str]:
    """Authorization code + PKCE with Authlib's client; returns the session, token, verifier and
    the redirect the code came back on."""
    client_id, secret = server.new_client(f"bot-{username}", public)
    oauth = OAuth2Session(
        client_id,
        secret,
        scope=SCOPE,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="none" if public else "client_secret_basic",
    )
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    register(server.url, username)
    back = consent(browser_for(server.url, username), url)
    assert parse_qs(urlsplit(back).query)["state"] == [state]
    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=back, code_verifier=verifier)
    return oauth, token, verifier, back


def refused(call: Any, *args: Any, **kwargs: Any) -> OAuthError:
    """The OAuthError Authlib's client raises for this call (the RFC error it read)."""
    with pytest.raises(OAuthError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_discovery_names_every_endpoint_and_capability(server: Server, metadata: dict[str, Any]) -> None:
    base = server.url
    assert metadata["issuer"] == base
    assert metadata["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert metadata["token_endpoint"] == f"{base}/oauth/token"
    assert metadata["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert metadata["userinfo_endpoint"] == f"{base}/oauth/userinfo"
    assert metadata["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert set(metadata["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert set(metadata["scopes_supported"]) == {"read:leaderboard", "update:score", "admin"}
    keys = requests.get(metadata["jwks_uri"], timeout=10).json()["keys"]
    assert keys and all(k["kid"] for k in keys)


@pytest.mark.parametrize("public", [True, False], ids=["public client", "confidential client"])
def test_code_with_pkce_then_userinfo_and_refresh_rotation(
    server: Server, metadata: dict[str, Any], public: bool
) -> None:
    username = "pub" if public else "conf"
    oauth, token, _, _ = code_flow(server, metadata, username, public)
    assert token["token_type"] == "Bearer" and set(token["scope"].split()) == set(SCOPE.split())
    me = oauth.get(metadata["userinfo_endpoint"], timeout=10)
    assert me.status_code == 200 and me.json()["username"] == username
    first = token["refresh_token"]
    rotated = oauth.refresh_token(metadata["token_endpoint"])
    assert rotated["refresh_token"] != first and rotated["access_token"] != token["access_token"]
    assert oauth.get(metadata["userinfo_endpoint"], timeout=10).json()["username"] == username
    token_url = metadata["token_endpoint"]
    # the old one is spent, and its family with it
    assert refused(oauth.refresh_token, token_url, refresh_token=first).error == "invalid_grant"
    family = refused(oauth.refresh_token, token_url, refresh_token=rotated["refresh_token"])
    assert family.error == "invalid_grant"


def test_the_library_reads_invalid_grant_for_a_used_code_and_a_bad_refresh_token(
    server: Server, metadata: dict[str, Any]
) -> None:
    oauth, _, verifier, back = code_flow(server, metadata, "used", public=True)
    token_url = metadata["token_endpoint"]
    used = refused(oauth.fetch_token, token_url, authorization_response=back, code_verifier=verifier)
    assert used.error == "invalid_grant" and used.description
    bad = refused(oauth.refresh_token, token_url, refresh_token="not-a-refresh-token")
    assert bad.error == "invalid_grant"


def test_revocation_ends_the_refresh_family(server: Server, metadata: dict[str, Any]) -> None:
    oauth, token, _, _ = code_flow(server, metadata, "revoker", public=False)
    r = oauth.revoke_token(
        metadata["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token"
    )
    assert r.status_code == 200
    after = refused(oauth.refresh_token, metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert after.error == "invalid_grant"


def test_a_wrong_client_secret_is_invalid_client_with_a_challenge(
    server: Server, metadata: dict[str, Any]
) -> None:
    client_id, _ = server.new_client("wrong-secret", public=False)
    r = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(client_id, "not-the-secret"),
        timeout=10,
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["WWW-Authenticate"].startswith("Basic ")
    oauth = OAuth2Session(client_id, "not-the-secret")
    assert (
        refused(oauth.refresh_token, metadata["token_endpoint"], refresh_token="x").error == "invalid_client"
    )


def test_denied_consent_and_a_bad_scope_come_back_on_the_redirect(
    server: Server, metadata: dict[str, Any]
) -> None:
    client_id, _ = server.new_client("denied", public=True)
    oauth = OAuth2Session(client_id, scope=SCOPE, redirect_uri=REDIRECT, code_challenge_method="S256")
    url, state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48)
    )
    register(server.url, "denier")
    browser = browser_for(server.url, "denier")
    back = parse_qs(urlsplit(consent(browser, url, "deny")).query)
    assert back["error"] == ["access_denied"] and back["state"] == [state] and "code" not in back
    wide = OAuth2Session(
        client_id, scope="read:leaderboard root", redirect_uri=REDIRECT, code_challenge_method="S256"
    )
    url, _ = wide.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=generate_token(48)
    )
    r = browser.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and parse_qs(urlsplit(r.headers["Location"]).query)["error"] == [
        "invalid_scope"
    ]
