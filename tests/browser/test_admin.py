"""The moderation page in Chromium: an admin works the review queue and a player's page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from playwright.sync_api import Page, expect

from tests.browser.conftest import Console
from tests.browser.helpers import PASSWORD, register, score, screenshot
from tests.integration.test_live import api_board


def make_admin_and_flag(pg_url: str, boss: int, flagged: int) -> None:
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'admin' WHERE id = %s", (boss,))
        conn.execute(
            "INSERT INTO fraud_flags (user_id, rule, severity, details, status, created_at)"
            " VALUES (%s, 'burst', 'high', '{\"count\": 9}', 'open', now())",
            (flagged,),
        )
        conn.execute("UPDATE users SET is_flagged = true WHERE id = %s", (flagged,))


def test_an_admin_confirms_a_flag_and_adjusts_a_score(
    hosts: Any, new_page: Callable[..., Page], console: Console, pg_url: str
) -> None:
    (app,) = hosts(1)
    ann, ann_token = register(app.url, "ann")
    bob, bob_token = register(app.url, "bob")
    score(app.url, ann_token, times=2)
    score(app.url, bob_token, times=1)
    boss, _ = register(app.url, "boss")
    make_admin_and_flag(pg_url, boss, ann)

    page = new_page()
    page.goto(f"{app.url}/login")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Moderation").click()
    expect(page.get_by_role("heading", name="Moderation")).to_be_visible()
    expect(page.locator('[data-count="accepted"]')).to_have_text("3")
    flag = page.locator("tr[data-flag-id]")
    expect(flag).to_contain_text("ann")
    screenshot(page, "admin-queue")
    flag.get_by_label("Reason").fill("scripted clicks")
    flag.get_by_role("button", name="Confirm and ban").click()
    expect(page.locator(".flash")).to_contain_text("confirmed")
    expect(page.get_by_text("No open flags. All clear.")).to_be_visible()
    assert [e["username"] for e in api_board(app.url)["leaderboard"]] == ["bob"]

    page.get_by_role("link", name="Players").click()
    page.get_by_label("Username, display name or email").fill("bob")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="bob").click()
    adjust = page.get_by_role("form", name="Adjust the score")
    adjust.get_by_label("Points (negative to take away)").fill("-4")
    adjust.get_by_label("Reason").fill("refund")
    adjust.get_by_role("button", name="Adjust the score").click()
    expect(page.locator(".flash")).to_contain_text("Done: adjust")
    expect(page.locator('[data-fact="score"]')).to_have_text("6")
    assert api_board(app.url)["leaderboard"][0]["score"] == 6
    screenshot(page, "admin-player", full_page=True)
    assert console.csp_violations() == []
