"""A page stays live through a redeploy and a lost network (SPEC §16), in real Chromium against
gunicorn: after a worker restart (WebSocket close 1012) it says so, waits its random 0.5-5 s and
comes back on a new connection showing the current board; offline (DevTools network emulation)
it says so, and back online it reconnects and shows what it missed."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, WebSocket, expect

from tests.browser.helpers import eventually, register, row, score, wait_live
from tests.integration.test_restarts import workers

WATCH_STATUS = """() => {
  window.statuses = [];
  const status = document.getElementById("live-status");
  new MutationObserver((changes) => changes.forEach((change) => change.addedNodes.forEach((text) =>
    window.statuses.push([performance.now(), status.dataset.state, text.textContent])))
  ).observe(status, {childList: true});
}"""


def statuses(page: Page) -> list[tuple[float, str, str]]:
    return [tuple(s) for s in page.evaluate("window.statuses")]  # type: ignore[misc]


def watched(base: str, new_page: Callable[..., Page]) -> tuple[Page, list[WebSocket]]:
    """The board page, live, with its status changes and the WebSockets it opens recorded."""
    page = new_page()
    opened: list[WebSocket] = []
    page.on("websocket", lambda ws: opened.append(ws))
    page.goto(base)
    wait_live(page)
    page.evaluate(WATCH_STATUS)
    return page, opened


def test_the_page_comes_back_after_a_worker_restart(hosts: Any, new_page: Callable[..., Page]) -> None:
    (app,) = hosts(1, workers=1)
    ann, token = register(app.url, "ann")
    page, opened = watched(app.url, new_page)
    (worker,) = workers(app)

    os.kill(worker, signal.SIGTERM)  # a redeploy stopping this page's worker
    eventually(page, lambda: len(opened) >= 2, what="a new WebSocket")
    wait_live(page)
    seen = statuses(page)
    restarting = [t for t, state, text in seen if text == "server restarting, reconnecting…"]
    assert restarting, seen  # told why, not an error
    back = [t for t, state, text in seen if state == "live" and t > restarting[0]]
    assert back and back[0] - restarting[0] >= 500, seen  # waited its own delay, not all at once
    assert not any(state == "polling" or text == "live (SSE)" for _, state, text in seen), seen

    score(app.url, token)  # the new connection is live: the board follows
    expect(page.locator(f"{row(ann)} .score")).to_have_text("10")


def test_the_page_resyncs_when_the_network_comes_back(hosts: Any, new_page: Callable[..., Page]) -> None:
    (app,) = hosts(1)
    ann, token = register(app.url, "ann")
    page, opened = watched(app.url, new_page)

    page.context.set_offline(True)  # DevTools network emulation, as a phone losing its signal
    expect(page.locator("#live-status")).to_have_attribute("data-state", "offline")
    expect(page.locator("#live-status")).to_have_text("offline, waiting for the network…")
    score(app.url, token, times=2)  # meanwhile the board moves on
    page.context.set_offline(False)
    eventually(page, lambda: len(opened) >= 2, what="a fresh connection once online")
    wait_live(page)
    expect(page.locator(f"{row(ann)} .score")).to_have_text("20")  # the snapshot: nothing missed
    texts = [text for _, _, text in statuses(page)]
    assert texts[-2:] == ["back online, reconnecting…", "live"], texts  # said so until live again
