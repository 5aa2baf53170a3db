"""Transport fallback in a real browser: WebSocket blocked → SSE; WebSocket and SSE blocked → polling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.helpers import register, row, score, wait_live


def refuse_ws(ws: WebSocketRoute) -> None:
    """The upgrade fails, as behind a proxy without WebSocket support (abnormal closure)."""
    ws.close(code=1006)


def test_websocket_blocked_falls_back_to_sse(hosts: Any, new_page: Callable[..., Page]) -> None:
    (app,) = hosts(1)
    page = new_page()
    page.route_web_socket("**/ws/scoreboard*", refuse_ws)
    page.goto(app.url)
    wait_live(page, "live (SSE)")
    ann, token = register(app.url, "ann")
    score(app.url, token)
    expect(page.locator(f"{row(ann)} .score")).to_have_text("10")


def test_websocket_and_sse_blocked_falls_back_to_polling(hosts: Any, new_page: Callable[..., Page]) -> None:
    (app,) = hosts(1, POLL_INTERVAL_SECONDS="1")
    page = new_page()
    page.route_web_socket("**/ws/scoreboard*", refuse_ws)
    page.route("**/events/scoreboard*", lambda route: route.abort())
    page.goto(app.url)
    wait_live(page, "polling")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "polling")
    ann, token = register(app.url, "ann")
    score(app.url, token)
    expect(page.locator(f"{row(ann)} .score")).to_have_text("10")
    score(app.url, token)
    expect(page.locator(f"{row(ann)} .score")).to_have_text("20")


def test_a_websocket_closed_cleanly_still_falls_back(hosts: Any, new_page: Callable[..., Page]) -> None:
    (app,) = hosts(1)
    page = new_page()
    page.route_web_socket("**/ws/scoreboard*", lambda ws: ws.close(code=1000))
    page.goto(app.url)
    expect(page.locator("#live-status")).to_have_text("live (SSE)", timeout=15_000)
