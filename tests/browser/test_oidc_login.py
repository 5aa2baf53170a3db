"""Sign in with an OpenID provider in headless Chromium, end to end: our page, the real provider's
login and consent pages (panva's oidc-provider), and back. One provider and one app server (gunicorn)
for the module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import screenshot
from tests.integration.conftest import Gunicorn, embedded_env
from tests.oidc_provider import OidcProvider


@pytest.fixture(scope="module")
def app_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("oidc-browser")
    server = Gunicorn(embedded_env(tmp / "instance", sqlite_template), tmp / "gunicorn.log", workers=1)
    provider = OidcProvider([f"{server.url}/login/oidc/callback"], tmp / "provider.log").start()
    server.env.update(provider.settings(name="Test ID"))
    server.start()
    yield server.url
    server.stop()
    provider.stop()


def press_sign_in(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/login")
    page.get_by_role("button", name="Sign in with Test ID").click()
    expect(page.locator('input[name="login"]')).to_be_visible()  # the provider's own page


def log_in_at_provider(page: Page, login: str) -> None:
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill("any password")
    page.get_by_role("button", name="Sign-in").click()


def consent(page: Page) -> None:
    page.get_by_role("button", name="Continue").click()


def sign_in(page: Page, app_url: str, login: str) -> str:
    """The whole flow; returns the signed-in player's id from the scoreboard page."""
    press_sign_in(page, app_url)
    log_in_at_provider(page, login)
    consent(page)
    standing = page.locator("#my-standing")
    expect(standing).to_be_visible()
    user_id = standing.get_attribute("data-user-id")
    assert user_id
    return user_id


def test_sign_in_creates_the_player_and_signing_in_again_finds_them(
    app_url: str, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    first = sign_in(page, app_url, "uma")
    expect(page.locator(".flash")).to_have_text("Welcome, Player uma!")
    expect(page.get_by_role("navigation", name="Account")).to_contain_text("Player uma")
    screenshot(page, "oidc-signed-in")
    page.goto(f"{app_url}/account")
    expect(page.locator('.connections li[data-provider="oidc"]')).to_contain_text("Test ID connected")

    again = new_page()  # another visitor's browser: no session here or at the provider
    assert sign_in(again, app_url, "uma") == first
    expect(again.locator(".flash")).to_have_text("Signed in with Test ID.")
    other = new_page()
    assert sign_in(other, app_url, "vic") != first


def test_the_buttons_are_on_sign_in_and_registration(app_url: str, new_page: Callable[..., Page]) -> None:
    page = new_page()
    for path in ("/login", "/register"):
        page.goto(app_url + path)
        expect(page.get_by_role("button", name="Sign in with Test ID")).to_be_visible()
    screenshot(page, "register-with-provider-button")


def test_denied_consent_lands_on_sign_in_with_a_message(app_url: str, new_page: Callable[..., Page]) -> None:
    page = new_page()
    press_sign_in(page, app_url)
    log_in_at_provider(page, "wes")
    page.get_by_role("link", name="[ Cancel ]").click()
    expect(page).to_have_url(f"{app_url}/login")
    expect(page.locator(".flash.error")).to_have_text(
        "Signing in with Test ID failed: sign-in was cancelled."
    )
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()  # still signed out


def test_a_tampered_state_lands_on_sign_in_with_a_message(
    app_url: str, new_page: Callable[..., Page]
) -> None:
    """The authorization request's state is changed on its way to the provider, which hands the
    changed one back: the app finds no sign-in of its own under that state."""
    page = new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    press_sign_in(page, app_url)
    authorize = next(url for url in requests if urlsplit(url).path == "/auth")
    parts = urlsplit(authorize)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    page.goto(parts._replace(query=urlencode({**params, "state": "forged-" + params["state"]})).geturl())
    log_in_at_provider(page, "xena")
    consent(page)
    expect(page).to_have_url(f"{app_url}/login")
    expect(page.locator(".flash.error")).to_contain_text("expired or was already used")
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
