"""Sign in with an OpenID provider, at the HTTP level, against a real one (panva's oidc-provider,
started for this module): the app's requests to it are real HTTP; the person's steps at the
provider are driven with requests, ours with Flask's test client (SPEC §9)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app.extensions import db
from tests.conftest import GENEROUS
from tests.helpers import Player
from tests.oidc_provider import OidcProvider, at_provider
from tests.web.test_admin_page import csrf, sign_in

APP = "http://localhost"
CALLBACK = f"{APP}/login/oidc/callback"


@pytest.fixture
def mode() -> str:
    """The embedded mode here; the first test runs in both (its parametrize overrides this)."""
    return "embedded"


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    callbacks = [CALLBACK, f"{APP}/login/google/callback"]
    provider = OidcProvider(callbacks, tmp_path_factory.mktemp("oidc") / "provider.log").start()
    yield provider
    provider.stop()


@pytest.fixture
def oidc_app(make_app: Any, op: OidcProvider) -> Flask:
    return make_app(**GENEROUS, **op.settings())


def start(client: FlaskClient, path: str = "/login") -> str:
    """Press "Sign in with Test ID" on `path`; returns the provider URL we are sent to."""
    assert "/login/oidc/start" in client.get(path).get_data(as_text=True)  # the button is there
    r = client.get("/login/oidc/start")
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return r.headers["Location"]


def finish(client: FlaskClient, back: str) -> Any:
    """Arrive back at the app from the provider."""
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in_with_provider(app: Flask, login: str, client: FlaskClient | None = None, **kw: Any) -> Any:
    """The whole flow in a fresh browser (or `client`); returns the app's answer to the callback."""
    client = client or app.test_client()
    back = at_provider(requests.Session(), start(client), login, APP, **kw)
    return finish(client, back)


def flashed(client: FlaskClient, response: Any) -> str:
    """The page the browser lands on after a redirect (with its flash message)."""
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client.get(response.headers["Location"]).get_data(as_text=True)


def query(app: Flask, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(text(sql), params)]


def signed_in_as(client: FlaskClient) -> int | None:
    me = client.get("/api/v1/me")
    return me.get_json()["user_id"] if me.status_code == 200 else None


def written(app: Flask) -> tuple[Any, ...]:
    return (query(app, "SELECT id FROM users"), query(app, "SELECT id FROM oauth_accounts"))


# -- signing in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["embedded", "production"])
def test_first_sign_in_creates_the_player_and_the_next_one_finds_them(oidc_app: Flask, mode: str) -> None:
    browser = oidc_app.test_client()
    r = sign_in_with_provider(oidc_app, "alice", browser)
    assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == "/"
    assert "Welcome, Player alice!" in flashed(browser, r)
    uid = signed_in_as(browser)
    assert uid is not None
    assert query(
        oidc_app, "SELECT username, display_name, email, password_hash FROM users WHERE id = :u", u=uid
    ) == [("alice", "Player alice", "alice@example.test", None)]
    assert query(oidc_app, "SELECT provider, subject FROM oauth_accounts WHERE user_id = :u", u=uid) == [
        ("oidc", "alice")
    ]
    again = oidc_app.test_client()  # another browser, a new provider session: log in again
    assert "Signed in with Test ID." in flashed(again, sign_in_with_provider(oidc_app, "alice", again))
    assert signed_in_as(again) == uid
    assert query(oidc_app, "SELECT count(*) FROM users") == [(1,)]
    events = query(
        oidc_app, "SELECT event, outcome FROM audit_log WHERE subject_user_id = :u ORDER BY id", u=uid
    )
    assert events == [("auth.register", "success"), ("auth.login", "success"), ("auth.login", "success")]
    providers = query(oidc_app, "SELECT details FROM audit_log WHERE event = 'auth.login'")
    assert all("oidc" in str(d) for (d,) in providers)


def test_another_subject_is_another_player(oidc_app: Flask) -> None:
    first, second = oidc_app.test_client(), oidc_app.test_client()
    sign_in_with_provider(oidc_app, "dave", first)
    sign_in_with_provider(oidc_app, "erin", second)
    assert signed_in_as(first) != signed_in_as(second)
    assert query(oidc_app, "SELECT username FROM users ORDER BY id") == [("dave",), ("erin",)]


def test_an_unverified_email_is_not_kept_and_a_taken_name_gets_a_suffix(oidc_app: Flask) -> None:
    Player(oidc_app.test_client(), "unverified-fay")  # a local account already has the name
    browser = oidc_app.test_client()
    sign_in_with_provider(oidc_app, "unverified-fay", browser)
    me = browser.get("/api/v1/me").get_json()
    assert me["username"] == "unverified-fay-2"
    assert query(oidc_app, "SELECT email FROM users WHERE id = :u", u=me["user_id"]) == [(None,)]


def test_a_verified_email_never_links_to_an_existing_account(oidc_app: Flask) -> None:
    """The provider says gus@example.test; a local player already has that email: a new player,
    without the email, rather than handing the local account to whoever controls the provider."""
    local = Player(oidc_app.test_client(), "gus")  # email gus@example.com
    with oidc_app.app_context():
        db.session.execute(text("UPDATE users SET email = 'gus@example.test' WHERE id = :u"), {"u": local.id})
        db.session.commit()
    browser = oidc_app.test_client()
    sign_in_with_provider(oidc_app, "gus", browser)
    uid = signed_in_as(browser)
    assert uid != local.id
    assert query(oidc_app, "SELECT username, email FROM users WHERE id = :u", u=uid) == [("gus-2", None)]


def test_a_banned_player_is_refused(oidc_app: Flask) -> None:
    sign_in_with_provider(oidc_app, "hal")
    with oidc_app.app_context():
        db.session.execute(text("UPDATE users SET is_banned = true WHERE username = 'hal'"))
        db.session.commit()
    browser = oidc_app.test_client()
    page = flashed(browser, sign_in_with_provider(oidc_app, "hal", browser))
    assert "This account is banned." in page
    assert signed_in_as(browser) is None
    assert query(oidc_app, "SELECT reason_code FROM audit_log WHERE event = 'auth.login_failed'") == [
        ("ACCOUNT_BANNED",)
    ]


def test_provider_sign_ups_count_toward_accounts_per_ip(make_app: Any, op: OidcProvider) -> None:
    app = make_app(**{**GENEROUS, "FRAUD_ACCOUNTS_PER_IP": 1}, **op.settings())
    Player(app.test_client(), "local1")  # a local sign-up from the same address
    sign_in_with_provider(app, "ivy")
    flags = query(app, "SELECT u.username, f.rule FROM fraud_flags f JOIN users u ON u.id = f.user_id")
    assert flags == [("ivy", "accounts_per_ip")]


def test_discovery_and_jwks_are_fetched_once_not_per_login(oidc_app: Flask, op: OidcProvider) -> None:
    before = (op.requests_to("/.well-known/openid-configuration"), op.requests_to("/jwks"))
    for login in ("jack", "jack", "kim"):
        assert sign_in_with_provider(oidc_app, login).status_code == 302
    after = (op.requests_to("/.well-known/openid-configuration"), op.requests_to("/jwks"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


# -- failures land on /login with a message, audited, nothing else written ------------------------


def assert_refused(app: Flask, client: FlaskClient, response: Any, message: str, reason: str) -> None:
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    page = flashed(client, response)
    assert message in page, page[page.find("<main") :][:600]
    assert signed_in_as(client) is None
    rows = query(app, "SELECT reason_code, details FROM audit_log WHERE event = 'auth.login_failed'")
    assert rows and rows[-1][0] == reason and "oidc" in str(rows[-1][1])


def test_denied_consent(oidc_app: Flask) -> None:
    browser = oidc_app.test_client()
    r = sign_in_with_provider(oidc_app, "lee", browser, consent=False)
    assert_refused(
        oidc_app, browser, r, "Signing in with Test ID failed: sign-in was cancelled.", "ACCESS_DENIED"
    )
    assert written(oidc_app) == ([], [])


def test_a_replayed_callback_is_refused(oidc_app: Flask) -> None:
    browser = oidc_app.test_client()
    back = at_provider(requests.Session(), start(browser), "max", APP)
    assert finish(browser, back).status_code == 302
    browser.post("/logout", data={"csrf_token": csrf(browser, "/")})
    before = written(oidc_app)
    r = finish(browser, back)
    assert_refused(oidc_app, browser, r, "expired or was already used", "BAD_STATE")
    assert written(oidc_app) == before
    thief = oidc_app.test_client()  # someone else's browser presenting the same callback
    assert_refused(oidc_app, thief, finish(thief, back), "expired or was already used", "BAD_STATE")


def test_a_tampered_state_is_refused(oidc_app: Flask) -> None:
    browser = oidc_app.test_client()
    back = at_provider(requests.Session(), start(browser), "ned", APP)
    parts = urlsplit(back)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    r = browser.get(f"{parts.path}?{urlencode({**params, 'state': params['state'] + 'x'})}")
    assert_refused(oidc_app, browser, r, "expired or was already used", "BAD_STATE")
    assert written(oidc_app) == ([], [])


def test_an_id_token_for_another_nonce_is_refused(oidc_app: Flask) -> None:
    """The session expects one nonce; the provider's (genuine) ID token carries the one it was
    asked for. Replace the expected nonce as a replayed ID token would present a stale one."""
    browser = oidc_app.test_client()
    back = at_provider(requests.Session(), start(browser), "olga", APP)
    with browser.session_transaction() as session:
        key = next(k for k in session if k.startswith("_state_oidc_"))
        session[key] = {**session[key], "data": {**session[key]["data"], "nonce": "a-nonce-used-before"}}
    assert_refused(
        oidc_app, browser, finish(browser, back), "ID token we could not verify", "ID_TOKEN_INVALID"
    )
    assert written(oidc_app) == ([], [])


@pytest.mark.parametrize("client_id", ["scoreboard-wrong-aud", "scoreboard-expired"])
def test_an_id_token_with_the_wrong_audience_or_expired_is_refused(
    make_app: Any, op: OidcProvider, client_id: str
) -> None:
    app = make_app(**GENEROUS, **op.settings(client_id))
    browser = app.test_client()
    r = sign_in_with_provider(app, "pat", browser)
    assert_refused(app, browser, r, "ID token we could not verify", "ID_TOKEN_INVALID")
    assert written(app) == ([], [])


def test_a_provider_that_is_down(make_app: Any, op: OidcProvider) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    app = make_app(
        **GENEROUS, **{**op.settings(), "OIDC_DISCOVERY_URL": f"http://127.0.0.1:{port}/.well-known/x"}
    )
    browser = app.test_client()
    r = browser.get("/login/oidc/start")
    assert_refused(app, browser, r, "Signing in with Test ID failed: did not answer", "PROVIDER_UNAVAILABLE")


def test_a_provider_that_does_not_answer_times_out(make_app: Any, op: OidcProvider, tmp_path: Path) -> None:
    """A server that accepts the connection and never replies; OAUTH_PROVIDER_TIMEOUT (10 s by
    default) is 1 s here."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/.well-known/openid-configuration"
    app = make_app(**GENEROUS, **{**op.settings(), "OIDC_DISCOVERY_URL": url}, OAUTH_PROVIDER_TIMEOUT=1)
    browser = app.test_client()
    try:
        r = browser.get("/login/oidc/start")
        assert_refused(app, browser, r, "did not answer", "PROVIDER_UNAVAILABLE")
    finally:
        for conn in accepted:
            conn.close()
        silent.close()


def test_a_provider_error_on_the_callback(oidc_app: Flask) -> None:
    browser = oidc_app.test_client()
    provider_url = start(browser)
    state = parse_qs(urlsplit(provider_url).query)["state"][0]
    r = browser.get(f"/login/oidc/callback?error=server_error&error_description=boom&state={state}")
    assert_refused(oidc_app, browser, r, "refused the sign-in (server_error)", "PROVIDER_ERROR")


# -- bad input on the login routes: a clear answer, never a 5xx, nothing written -----------------


@pytest.mark.parametrize(
    "query_string, reason",
    [
        ("", "BAD_STATE"),
        ("code=abc", "BAD_STATE"),
        ("state=STATE", "PROVIDER_ERROR"),  # no code: the provider refuses the exchange
        ("state=STATE&code=not-a-code", "PROVIDER_ERROR"),
        ("state=STATE&state=other&code=x", "PROVIDER_ERROR"),
        ("state=" + "s" * 20_000 + "&code=x", "BAD_STATE"),
        ("state=STATE&code=" + "c" * 20_000, "PROVIDER_ERROR"),
        ("error=access_denied", "ACCESS_DENIED"),
        ("state=%00%ff&code=%00", "BAD_STATE"),
    ],
)
def test_bad_callbacks_go_to_login_with_a_message(oidc_app: Flask, query_string: str, reason: str) -> None:
    browser = oidc_app.test_client()
    state = parse_qs(urlsplit(start(browser)).query)["state"][0]
    r = browser.get("/login/oidc/callback?" + query_string.replace("STATE", state))
    assert_refused(oidc_app, browser, r, "Signing in with Test ID failed", reason)
    assert written(oidc_app) == ([], [])


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("POST", "/login/oidc/start", 405),
        ("PUT", "/login/oidc/callback", 405),
        ("GET", "/login/nope/start", 404),
        ("GET", "/login/nope/callback", 404),
        ("GET", "/login/github/callback", 404),  # not configured here
        ("POST", "/account/connections/oidc/disconnect", 400),
    ],
)
def test_wrong_methods_and_unknown_providers(oidc_app: Flask, method: str, path: str, status: int) -> None:
    r = oidc_app.test_client().open(path, method=method, headers={"Accept": "text/html"})
    assert r.status_code == status
    assert written(oidc_app) == ([], [])


def test_a_disconnect_needs_the_csrf_token_and_a_signed_in_player(oidc_app: Flask) -> None:
    browser = oidc_app.test_client()
    r = browser.post("/account/connections/oidc/disconnect", headers={"Accept": "text/html"})
    assert r.status_code == 400 and "reload the page and try again" in r.get_data(as_text=True)
    signed_out = browser.post(
        "/account/connections/oidc/disconnect",
        data={"csrf_token": csrf(browser)},
        headers={"Accept": "text/html"},
    )
    assert signed_out.status_code == 302 and urlsplit(signed_out.headers["Location"]).path == "/login"


# -- buttons and connected accounts ------------------------------------------------------------


def test_buttons_show_exactly_for_configured_providers(make_app: Any, op: OidcProvider) -> None:
    plain = make_app(**GENEROUS).test_client()
    for path in ("/login", "/register"):
        assert "Sign in with" not in plain.get(path).get_data(as_text=True)
    both = make_app(
        **GENEROUS, **op.settings(), GITHUB_CLIENT_ID="gh-id", GITHUB_CLIENT_SECRET="s"
    ).test_client()
    for path in ("/login", "/register"):
        html = both.get(path).get_data(as_text=True)
        assert (
            "Sign in with GitHub" in html
            and "Sign in with Test ID" in html
            and "Sign in with Google" not in html
        )


def test_connect_then_disconnect_on_the_account_page(oidc_app: Flask) -> None:
    quinn = Player(oidc_app.test_client(), "quinn")
    browser = oidc_app.test_client()
    sign_in(browser, quinn)
    assert "Connect Test ID" in browser.get("/account").get_data(as_text=True)
    back = at_provider(requests.Session(), start(browser, "/account"), "quinn-at-op", APP)
    r = finish(browser, back)
    assert urlsplit(r.headers["Location"]).path == "/account"
    page = flashed(browser, r)
    assert "Test ID is connected" in page and "Disconnect Test ID" in page
    assert query(oidc_app, "SELECT user_id, subject FROM oauth_accounts") == [(quinn.id, "quinn-at-op")]
    again = oidc_app.test_client()  # signing in with it now finds quinn
    sign_in_with_provider(oidc_app, "quinn-at-op", again)
    assert signed_in_as(again) == quinn.id
    r = browser.post("/account/connections/oidc/disconnect", data={"csrf_token": csrf(browser, "/account")})
    assert "Test ID is disconnected." in flashed(browser, r)
    assert query(oidc_app, "SELECT count(*) FROM oauth_accounts") == [(0,)]


def test_the_only_way_to_sign_in_cannot_be_disconnected(oidc_app: Flask) -> None:
    browser = oidc_app.test_client()
    sign_in_with_provider(oidc_app, "ray", browser)
    r = browser.post("/account/connections/oidc/disconnect", data={"csrf_token": csrf(browser, "/account")})
    assert "only way to sign in" in flashed(browser, r)
    assert query(oidc_app, "SELECT count(*) FROM oauth_accounts") == [(1,)]


def test_an_identity_of_another_player_cannot_be_connected(oidc_app: Flask) -> None:
    sign_in_with_provider(oidc_app, "sam")
    tess = Player(oidc_app.test_client(), "tess")
    browser = oidc_app.test_client()
    sign_in(browser, tess)
    r = finish(browser, at_provider(requests.Session(), start(browser, "/account"), "sam", APP))
    assert "already connected to another player" in flashed(browser, r)
    assert query(oidc_app, "SELECT count(*) FROM oauth_accounts WHERE user_id = :u", u=tess.id) == [(0,)]


def test_google_is_the_same_openid_flow_from_its_discovery_document(make_app: Any, op: OidcProvider) -> None:
    """GOOGLE_DISCOVERY_URL points at the local provider here (Google is not reachable)."""
    google = {"GOOGLE_CLIENT_ID": "scoreboard", "GOOGLE_CLIENT_SECRET": "scoreboard-secret"}
    app = make_app(**GENEROUS, **google, GOOGLE_DISCOVERY_URL=op.discovery_url)
    browser = app.test_client()
    assert "Sign in with Google" in browser.get("/login").get_data(as_text=True)
    r = browser.get("/login/google/start")
    back = at_provider(requests.Session(), r.headers["Location"], "yuki", APP)
    assert back.startswith(f"{APP}/login/google/callback?")
    assert "Welcome, Player yuki!" in flashed(browser, finish(browser, back))
    assert query(app, "SELECT provider, subject FROM oauth_accounts") == [("google", "yuki")]
