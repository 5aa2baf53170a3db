"""Boards in Chromium (SPEC §14): a board's page with its period tabs and action button, a board's
widget live, and a day rolling over in an open widget. Both run modes.

The page and widget tests share one server per mode. Its board has a history: a veteran scored on
it eight days earlier, through a server whose clock (CLOCK_OFFSET_SECONDS) read that day, so the
all-time tab differs from this day's and this week's. The rollover test starts a server of its
own whose clock is a few seconds before a UTC midnight.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser.helpers import register, row, score, sign_up, wait_live
from tests.conftest import clean_postgres, clean_redis, run_id
from tests.integration.conftest import Gunicorn, embedded_env, production_env
from tests.integration.test_board_streams import jump, make_boards

MODES = ["embedded", "production"]
DAY = 86400
CUP = {"slug": "cup", "title": "Cup", "periods": ["daily", "weekly"], "catalog": {"jump": {"points": 3}}}
SPRINT = {
    "slug": "sprint",
    "title": "Sprint",
    "periods": ["daily"],
    "timezone": "UTC",
    "catalog": {"jump": {"points": 3}},
}
LEAD = 5.0  # seconds from the rollover server's readiness to its midnight
STARTS: list[float] = [3.0]  # how long server starts took, to place that midnight


@dataclass
class Deployment:
    """The database (and Redis namespace) of one run mode; servers on it start as a test needs."""

    mode: str
    env: dict[str, str]
    database_url: str
    tmp: Path
    workers: int
    servers: list[Gunicorn] = field(default_factory=list)

    def start(self, **extra: str) -> Gunicorn:
        server = Gunicorn({**self.env, **extra}, self.tmp / f"server{len(self.servers)}.log", self.workers)
        began = time.monotonic()
        server.start()
        STARTS.append(time.monotonic() - began)
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


def deployment(mode: str, request: pytest.FixtureRequest, tmp: Path, clean: bool) -> Deployment:
    """A fresh deployment: its own SQLite file (embedded), or its own Redis namespace on this run's
    PostgreSQL database (production; `clean` empties the database first)."""
    if mode == "embedded":
        template = request.getfixturevalue("sqlite_template")
        env = embedded_env(tmp / "instance", template)
        return Deployment(mode, env, f"sqlite:///{tmp / 'instance' / 'scoreboard.db'}", tmp, workers=1)
    pg, redis_url = request.getfixturevalue("pg_url"), request.getfixturevalue("redis_url")
    namespace = f"bb{run_id()}{uuid.uuid4().hex[:6]}"
    if clean:
        clean_postgres(pg)
    clean_redis(redis_url, namespace)
    return Deployment(mode, production_env(pg, redis_url, namespace), pg, tmp, workers=2)


@dataclass
class Site:
    url: str
    vera: int  # the veteran: 12 points on cup, eight days ago


@pytest.fixture(scope="module", params=MODES)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server with the board `cup` (daily, weekly), on which vera scored eight days ago."""
    d = deployment(request.param, request, tmp_path_factory.mktemp(f"boards-{request.param}"), clean=True)
    try:
        past = d.start(CLOCK_OFFSET_SECONDS=str(-8 * DAY))
        make_boards(past.url, d.database_url, CUP)
        vera, token = register(past.url, "vera")
        jump(past.url, token, "cup", 4)
        past.stop()
        yield Site(d.start().url, vera)
    finally:
        d.stop_all()


def board_api(base: str, board: str, period: str, at: str | None = None) -> dict[str, Any]:
    params = {"period": period, **({"at": at} if at else {})}
    r = requests.get(f"{base}/api/v1/boards/{board}/leaderboard", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def tab(page: Page, label: str) -> Any:
    return page.locator("nav.period-tabs").get_by_role("link", name=label, exact=True)


def keep_marker(page: Page) -> None:
    """Mark the document: a reload or a navigation would lose the mark."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__notReloaded === true"))


def test_a_board_page_has_period_tabs_and_its_button_scores_on_that_board(
    site: Site, new_page: Callable[..., Page]
) -> None:
    base = site.url
    main = new_page()  # another visitor, on the main board
    main.goto(base + "/")
    wait_live(main)

    page = new_page()
    zoe = sign_up(page, base, "zoe")
    page.goto(f"{base}/boards/cup")
    wait_live(page)
    expect(page.locator("#board-title")).to_have_text("Cup: top 10")
    tabs = page.locator("nav.period-tabs a")
    expect(tabs).to_have_text(["All time", "Today", "This week"])
    expect(page.locator('nav.period-tabs a[aria-current="page"]')).to_have_text("All time")
    expect(page.locator(f"{row(site.vera)} .score")).to_have_text("12")  # all time: vera's old points

    tab(page, "This week").click()
    expect(page).to_have_url(f"{base}/boards/cup?period=weekly")
    expect(page.locator('nav.period-tabs a[aria-current="page"]')).to_have_text("This week")
    expect(page.locator("#board-rows tr.empty")).to_have_count(1)  # vera played last week
    expect(page.locator(row(site.vera))).to_have_count(0)
    wait_live(page)

    keep_marker(page)
    page.locator("#play").click()
    expect(page.locator(f"{row(zoe)} .score")).to_have_text("3")  # the board's catalog: 3 points
    expect(page.locator(f"{row(zoe)} .rank span")).to_have_text("1")
    expect(page.locator(row(zoe))).to_have_attribute("aria-current", "true")
    expect(page.locator("#board-rows tr[data-user-id]")).to_have_count(1)
    expect(page.locator("#play-message")).to_contain_text("+3 points")
    expect(page.locator("#my-standing .my-score")).to_have_text("3")  # this week's
    expect(page.locator("#my-standing .my-rank")).to_have_text("#1")
    assert not_reloaded(page), "the board updated by reloading the page"

    # The main board never shows it: a later score on main arrives there, zoe's never did.
    ann, ann_token = register(base, "ann")
    score(base, ann_token)
    expect(main.locator(f"{row(ann)} .score")).to_have_text("10")
    expect(main.locator(row(zoe))).to_have_count(0)
    main.reload()
    expect(main.locator(row(zoe))).to_have_count(0)
    assert zoe not in {
        str(e["user_id"])
        for e in requests.get(f"{base}/api/v1/leaderboard", timeout=10).json()["leaderboard"]
    }

    # Each tab is its period's board: today has zoe alone, all time has vera ahead of her.
    tab(page, "Today").click()
    expect(page.locator('nav.period-tabs a[aria-current="page"]')).to_have_text("Today")
    expect(page.locator("#board-rows tr[data-user-id]")).to_have_count(1)
    expect(page.locator(f"{row(zoe)} .score")).to_have_text("3")
    tab(page, "All time").click()
    expect(page).to_have_url(f"{base}/boards/cup?period=all")
    rows = page.locator("#board-rows tr[data-user-id]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-user-id", str(site.vera))
    expect(rows.nth(1)).to_have_attribute("data-user-id", zoe)
    expect(page.locator("#my-standing .my-score")).to_have_text("3")
    expect(page.locator("#my-standing .my-rank")).to_have_text("#2")


def test_a_board_widget_updates_live(site: Site, new_page: Callable[..., Page]) -> None:
    base = site.url
    widget = new_page(viewport={"width": 420, "height": 460})
    widget.goto(f"{base}/widget?board=cup&period=weekly")
    wait_live(widget)
    expect(widget.locator(".widget-head strong")).to_have_text("Cup")
    expect(widget.locator('nav.period-tabs a[aria-current="page"]')).to_have_text("This week")
    expect(widget.locator(row(site.vera))).to_have_count(0)
    keep_marker(widget)

    max_, token = register(base, "max")
    jump(base, token, "cup", 2)
    expect(widget.locator(f"{row(max_)} .name")).to_have_text("max")
    expect(widget.locator(f"{row(max_)} .score")).to_have_text("6")
    score(base, token)  # on main: not this widget's board
    jump(base, token, "cup")
    expect(widget.locator(f"{row(max_)} .score")).to_have_text("9")
    want = [(e["user_id"], e["score"]) for e in board_api(base, "cup", "weekly")["leaderboard"]]
    shown = widget.locator("#board-rows tr[data-user-id]")
    expect(shown).to_have_count(len(want))
    got = [
        (int(r.get_attribute("data-user-id") or 0), int(r.locator(".score").inner_text()))
        for r in shown.all()
    ]
    assert got == want
    assert not_reloaded(widget)


def midnight_offset(lead: float) -> int:
    """CLOCK_OFFSET_SECONDS putting the app's clock `lead` seconds before a UTC midnight now."""
    now = time.time()
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return round((midnight + timedelta(days=1)).timestamp() - lead - now)


def test_a_daily_widget_rolls_over_to_the_new_day_by_itself(
    mode: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    new_page: Callable[..., Page],
) -> None:
    d = deployment(mode, request, tmp_path, clean=False)
    try:
        server = d.start(CLOCK_OFFSET_SECONDS=str(midnight_offset(LEAD + max(STARTS[-3:]))))
        base = server.url
        make_boards(base, d.database_url, SPRINT, admin="judge")
        rita, token = register(base, "rita")
        jump(base, token, "sprint", 2)

        widget = new_page(viewport={"width": 420, "height": 460})
        widget.goto(f"{base}/widget?board=sprint&period=daily")
        wait_live(widget)
        keep_marker(widget)
        expect(widget.locator(f"{row(rita)} .score")).to_have_text("6")
        eve = board_api(base, "sprint", "daily")
        assert [(e["user_id"], e["score"]) for e in eve["leaderboard"]] == [(rita, 6)], (
            f"the day ended before the widget showed it (set-up took longer than the lead): {eve}"
        )
        seq_before = int(widget.locator("#board-rows").get_attribute("data-seq") or 0)

        # The boundary passes: the widget switches to the new, empty day by itself.
        expect(widget.locator("#board-rows tr.empty")).to_have_count(1)
        expect(widget.locator(row(rita))).to_have_count(0)
        expect(widget.locator("#board-total")).to_have_text("0")
        assert int(widget.locator("#board-rows").get_attribute("data-seq") or 0) > seq_before
        day = board_api(base, "sprint", "daily")
        assert day["period_key"] > eve["period_key"] and day["leaderboard"] == []
        ended = board_api(base, "sprint", "daily", at=eve["period_key"])
        assert [(e["user_id"], e["score"]) for e in ended["leaderboard"]] == [(rita, 6)]

        # A score in the new day appears, counting that day's points only.
        jump(base, token, "sprint")
        expect(widget.locator(f"{row(rita)} .score")).to_have_text("3")
        expect(widget.locator("#board-total")).to_have_text("1")
        assert not_reloaded(widget)
        _, remy_token = register(base, "remy")
        jump(base, remy_token, "sprint", 2)
        rows = widget.locator("#board-rows tr[data-user-id]")
        expect(rows).to_have_count(2)
        expect(rows.first.locator(".name")).to_have_text("remy")
    finally:
        d.stop_all()
