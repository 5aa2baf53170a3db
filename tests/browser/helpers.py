"""Steps the browser tests share: sign up through the page, score through the API, screenshots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.conftest import ROOT
from tests.integration.test_live import PASSWORD, register, score  # noqa: F401 (re-exported)

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1200, "height": 800}
PHONE = {"width": 390, "height": 844}


def sign_up(page: Page, base: str, username: str) -> str:
    """Create an account with the /register form; returns the new player's user id."""
    page.goto(f"{base}/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email (optional)").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    standing = page.locator("#my-standing")
    expect(standing).to_be_visible()
    user_id = standing.get_attribute("data-user-id")
    assert user_id
    return user_id


def wait_live(page: Page, text: str = "live") -> None:
    """Wait until the page's live transport reports `text` ("live", "live (SSE)", "polling")."""
    expect(page.locator("#live-status")).to_have_text(text)


def row(user_id: int | str) -> str:
    """The selector of a player's board row."""
    return f'#board-rows tr[data-user-id="{user_id}"]'


def screenshot(page: Page, name: str, full_page: bool = False) -> Path:
    """Save a screenshot as a test artifact (test-artifacts/ is git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def eventually(page: Page, check: Callable[[], bool], what: str, timeout_ms: int = 20_000) -> None:
    """Wait (letting the page's events run) until `check()` holds."""
    for _ in range(timeout_ms // 100):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def sign_in(page: Page, base: str, username: str) -> None:
    """Sign in with the /login form (every test player has the password PASSWORD)."""
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
