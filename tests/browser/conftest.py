"""Real headless Chromium against the app served by gunicorn (gevent) on PostgreSQL + Redis."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright

from tests.browser.helpers import DESKTOP
from tests.integration.conftest import _close_live_clients, hosts  # noqa: F401
from tests.services import require

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

expect.set_options(timeout=20_000)  # generous: waits for a condition, never a performance bound


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require("chromium", os.path.exists(CHROMIUM))
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Console:
    """Every console message of the pages a test opened, as "type: text @ url"."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, msg: ConsoleMessage) -> None:
        self.lines.append(f"{msg.type}: {msg.text} @ {msg.location.get('url', '')}")

    def csp_violations(self) -> list[str]:
        return [line for line in self.lines if "Content Security Policy" in line]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def new_page(browser: Browser, console: Console) -> Iterator[Callable[..., Page]]:
    """`new_page(viewport=DESKTOP)`: a page in a fresh context (its own cookies: another visitor)."""
    contexts: list[BrowserContext] = []

    def make(viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", console)
        page.on("pageerror", lambda err: console.lines.append(f"pageerror: {err}"))
        page.on("requestfailed", lambda r: console.lines.append(f"requestfailed: {r.url} {r.failure}"))
        return page

    yield make
    for context in contexts:
        context.close()
    print("browser console:", *console.lines, sep="\n  ")  # shown when the test failed


class StaticSite:
    """A tiny HTTP server on its own port (another origin) serving pages set by the test."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                body = pages.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Callable[[], StaticSite]]:
    """`site()`: start another-origin web server; stopped after the test."""
    started: list[StaticSite] = []

    def start() -> StaticSite:
        started.append(StaticSite())
        return started[-1]

    yield start
    for s in started:
        s.close()
