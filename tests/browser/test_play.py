"""Sign up in the page, play with the button (mouse and keyboard), and watch another visitor's board move."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.helpers import PHONE, register, row, score, screenshot, sign_up, wait_live


def test_a_new_player_scores_and_another_visitor_sees_it_live(
    hosts: Any, new_page: Callable[..., Page]
) -> None:
    (app,) = hosts(1)
    ann, ann_token = register(app.url, "ann")
    score(app.url, ann_token, times=3)  # ann leads with 30

    watcher = new_page()  # anonymous, another context
    watcher.goto(app.url)
    wait_live(watcher)
    expect(watcher.locator("#board-rows tr[data-user-id]")).to_have_count(1)

    page = new_page()
    me = sign_up(page, app.url, "zoe")
    wait_live(page)
    expect(page.locator("#my-standing .my-score")).to_have_text("0")
    expect(page.locator("#my-standing .my-rank")).to_have_text("unranked")

    page.locator("#play").click()
    expect(page.locator("#my-standing .my-score")).to_have_text("10")
    expect(page.locator("#my-standing .my-rank")).to_have_text("#2")
    expect(page.locator("#play-message")).to_contain_text("+10 points")
    expect(watcher.locator(row(me))).to_contain_text("zoe")  # no reload
    expect(watcher.locator(f"{row(me)} .rank span")).to_have_text("2")

    for expected in ("20", "30", "40"):
        expect(page.locator("#play")).to_be_enabled()
        page.locator("#play").click()
        expect(page.locator("#my-standing .my-score")).to_have_text(expected)
    expect(page.locator("#my-standing .my-rank")).to_have_text("#1")
    first = watcher.locator("#board-rows tr[data-user-id]").first
    expect(first).to_have_attribute("data-user-id", me)
    expect(first.locator(".score")).to_have_text("40")
    expect(page.locator(row(me))).to_have_attribute("aria-current", "true")  # "you" row
    expect(watcher.locator("#board-total")).to_have_text("2")

    page.wait_for_timeout(1500)  # let the rank animations finish before the pictures
    screenshot(page, "main-desktop-signed-in")
    phone = new_page(viewport=PHONE)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(app.url)
    wait_live(phone)
    percentile = "Ahead of or level with 100% of 2 players."  # as the page's script writes it
    expect(page.locator("#my-percentile")).to_have_text(percentile)
    expect(phone.locator("#my-percentile")).to_have_text(percentile)
    screenshot(phone, "main-phone-signed-in", full_page=True)
    page.goto(f"{app.url}/account")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    screenshot(page, "account", full_page=True)


def test_board_semantics_and_the_button_by_keyboard(hosts: Any, new_page: Callable[..., Page]) -> None:
    (app,) = hosts(1)
    page = new_page()
    sign_up(page, app.url, "kim")
    wait_live(page)
    board = page.locator("#live-board")
    expect(board).to_have_attribute("aria-live", "polite")
    table = board.locator("table")
    expect(table.locator("caption")).to_contain_text("players on the board")
    expect(table.locator("thead th[scope=col]")).to_have_count(3)
    expect(page.get_by_role("table")).to_have_count(1)

    for _ in range(30):  # Tab from the top of the page to the button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "play":
            break
    else:
        raise AssertionError("the play button is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#my-standing .my-score")).to_have_text("10")
    expect(page.locator("#my-standing .my-rank")).to_have_text("#1")


def test_focus_stays_on_the_button_after_pressing_it(hosts: Any, new_page: Callable[..., Page]) -> None:
    (app,) = hosts(1)
    page = new_page()
    sign_up(page, app.url, "kim")
    wait_live(page)  # the page's script is running
    page.locator("#play").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#my-standing .my-score")).to_have_text("10")
    expect(page.locator("#play")).to_be_enabled()
    expect(page.locator("#play")).to_be_focused(timeout=2000)  # a keyboard user presses Enter again
