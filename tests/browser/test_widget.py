"""The widget framed by a page from another origin: live when allowed, blocked otherwise; `/` never frames."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Console, StaticSite
from tests.browser.helpers import eventually, register, row, score, screenshot, wait_live

BLOCKED = "chrome-error://chromewebdata/"  # what Chromium shows in a frame it refused to render


def frames_page(*srcs: str) -> str:
    frames = "".join(f'<iframe src="{src}" width="420" height="460"></iframe>' for src in srcs)
    return f"<!doctype html><html><head><title>Embedder</title></head><body>{frames}</body></html>"


def blocked(page: Page, console: Console, directive: str) -> bool:
    """Chromium refused to render a frame of `page` and logged that `directive` was why."""
    logged = any("violates" in line and f'"{directive}"' in line for line in console.lines)
    return logged and any(frame.url == BLOCKED for frame in page.frames)


def test_widget_framed_by_an_allowed_origin_updates_live_others_are_refused(
    hosts: Any, site: Callable[[], StaticSite], new_page: Callable[..., Page], console: Console
) -> None:
    allowed, other = site(), site()
    (app,) = hosts(1, WIDGET_FRAME_ANCESTORS=allowed.origin)
    allowed.pages["/"] = frames_page(f"{app.url}/widget?theme=dark", f"{app.url}/")
    other.pages["/"] = frames_page(f"{app.url}/widget?theme=dark")

    page = new_page()
    page.goto(allowed.origin + "/")
    widget = page.frame_locator("iframe >> nth=0")
    expect(widget.locator("#live-status")).to_have_text("live")
    expect(widget.locator("html")).to_have_attribute("data-theme", "dark")
    ann, token = register(app.url, "ann")
    score(app.url, token)
    expect(widget.locator(f"{row(ann)} .name")).to_have_text("ann")
    expect(widget.locator(f"{row(ann)} .score")).to_have_text("10")

    # `/` may not be framed at all, not even by the origin the widget allows.
    eventually(page, lambda: blocked(page, console, "frame-ancestors 'none'"), "the framed / refused")
    expect(page.frame_locator("iframe >> nth=1").locator("#board-rows")).to_have_count(0)

    # Another origin may not frame the widget.
    elsewhere = new_page()
    elsewhere.goto(other.origin + "/")
    directive = f"frame-ancestors {allowed.origin}"
    eventually(elsewhere, lambda: blocked(elsewhere, console, directive), "the widget refused elsewhere")
    expect(elsewhere.frame_locator("iframe").locator("#board-rows")).to_have_count(0)


def test_widget_themes(hosts: Any, new_page: Callable[..., Page]) -> None:
    (app,) = hosts(1)
    for times, name in enumerate(("cyd", "bob", "ann"), start=1):
        _, token = register(app.url, name)
        score(app.url, token, times=times)
    for theme in ("light", "dark"):
        page = new_page(viewport={"width": 420, "height": 460})
        page.goto(f"{app.url}/widget?theme={theme}")
        wait_live(page)
        expect(page.locator("html")).to_have_attribute("data-theme", theme)
        expect(page.locator("#board-rows tr[data-user-id]")).to_have_count(3)
        screenshot(page, f"widget-{theme}")
