"""Charts in Chromium (SPEC §15): the player's climb on /account, the players around them kept
live, the admin player page's chart with its fraud flags, and /account on a phone in light and
dark. Both run modes, one server per mode for the whole file.

The server flags a burst of more than FRAUD_BURST_COUNT=5 actions in 10 seconds (so the admin
test can cause a real flag); every other player scores at most four times. The browser runs in
a zone half an hour off UTC's hours (Asia/Kolkata) with an en-GB locale, so nothing may assume
that the viewer's clock is the server's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from urllib.parse import quote

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect
from sqlalchemy import create_engine, text

from tests.browser.conftest import Console
from tests.browser.helpers import (
    DESKTOP,
    PASSWORD,
    eventually,
    register,
    score,
    screenshot,
    sign_in,
    sign_up,
    wait_live,
)
from tests.browser.test_boards import MODES, deployment

ZONE, LOCALE = "Asia/Kolkata", "en-GB"
NARROW = {"width": 375, "height": 740}
BURST = 5  # FRAUD_BURST_COUNT of this file's server
# the time format of the chart's table (static/charts.js), for the points the API returned
LABELS = """ats => ats.map(a => new Date(Date.parse(a)).toLocaleString(undefined,
    {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"}))"""
TABLE = """() => [...document.querySelectorAll(".chart-numbers tbody tr")]
    .map(tr => [...tr.cells].map(td => td.textContent))"""
PLOT = """() => { const p = document.querySelector(".chart")._plot;
    return p ? {series: p.series.length, data: p.data} : null; }"""
INK = """() => { const c = document.querySelector(".chart-plot canvas");
    if (!c || !c.width || !c.height) return 0;
    const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++; return n; }"""
AROUND = """() => [...document.querySelectorAll("#around tbody tr[data-user-id]")]
    .map(tr => [tr.dataset.userId, tr.cells[0].textContent, tr.cells[2].textContent])"""
CSP_SPY = """document.addEventListener("securitypolicyviolation", (e) =>
    window.__cspViolation(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"""


DATABASES: dict[str, str] = {}  # the server's URL -> its database URL


@pytest.fixture(scope="module", params=MODES)
def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of this mode's server (production: two workers); its database URL is `base.db`."""
    d = deployment(request.param, request, tmp_path_factory.mktemp(f"charts-{request.param}"), clean=True)
    try:
        server = d.start(FRAUD_BURST_COUNT=str(BURST))
        DATABASES[server.url] = d.database_url
        yield server.url
    finally:
        d.stop_all()


@pytest.fixture
def mode_of(base: str) -> str:
    """The run mode of the module's server (for artifact names)."""
    return "embedded" if DATABASES[base].startswith("sqlite") else "production"


class Pages:
    """Pages in fresh contexts (another visitor each), in ZONE and LOCALE, every console message
    into `console` and every CSP violation (the `securitypolicyviolation` event) into `csp`."""

    def __init__(self, browser: Browser, console: Console) -> None:
        self.browser, self.console = browser, console
        self.contexts: list[BrowserContext] = []
        self.csp: list[str] = []

    def __call__(self, viewport: dict[str, int] | None = None, color_scheme: str = "light") -> Page:
        context = self.browser.new_context(
            viewport=viewport or DESKTOP,  # type: ignore[arg-type]
            color_scheme=color_scheme,  # type: ignore[arg-type]
            timezone_id=ZONE,
            locale=LOCALE,
        )
        context.set_default_timeout(20_000)
        context.expose_function("__cspViolation", lambda line: self.csp.append(line))
        context.add_init_script(CSP_SPY)
        context.on("page", self.watch)
        self.contexts.append(context)
        return context.new_page()

    def watch(self, page: Page) -> None:
        page.on("console", self.console)
        page.on("pageerror", lambda err: self.console.lines.append(f"pageerror: {err}"))

    def errors(self) -> list[str]:
        return [line for line in self.console.lines if line.startswith(("error:", "pageerror:"))]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Browser, console: Console) -> Iterator[Pages]:
    p = Pages(browser, console)
    yield p
    p.close()
    print("browser console:", *console.lines, "CSP violations:", *p.csp, sep="\n  ")


# ---- set-up through the API ----------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def ranked(base: str) -> int:
    return int(requests.get(f"{base}/api/v1/leaderboard", timeout=10).json()["total_players"])


def fill_ahead(base: str, n: int) -> None:
    """Rank at least `n` players, each with 10 points or more: a player who scores 10 after this
    ranks behind all of them (equal scores: the earlier first)."""
    for _ in range(n - ranked(base)):
        _, token = register(base, unique("fill"))
        score(base, token, times=2)


def rank_of(base: str, user_id: int | str) -> dict[str, Any]:
    r = requests.get(f"{base}/api/v1/users/{user_id}/rank", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def around_api(base: str, user_id: int | str) -> list[tuple[str, str, str]]:
    """The rows the "Around you" table should show: (user id, "#rank", score)."""
    r = requests.get(f"{base}/api/v1/leaderboard/around/{user_id}", params={"radius": 3}, timeout=10)
    assert r.status_code == 200, r.text
    return [(str(e["user_id"]), f"#{e['rank']}", str(e["score"])) for e in r.json()["leaderboard"]]


def make_admin(base: str, username: str) -> str:
    """A player promoted in the database (as `flask users create --admin` makes one); their token."""
    uid, _ = register(base, username)
    engine = create_engine(DATABASES[base])
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = 'admin' WHERE id = :u"), {"u": uid})
    engine.dispose()
    login = {"username": username, "password": PASSWORD}
    return requests.post(f"{base}/api/v1/auth/login", json=login, timeout=10).json()["access_token"]


# ---- the chart, against the history API ------------------------------------------------------


class HistoryRequests:
    """The history responses a page received (the chart asks for days, then hours, at once)."""

    def __init__(self, page: Page) -> None:
        self.responses: list[Response] = []
        page.on("response", lambda r: self.responses.append(r) if "/history?" in r.url else None)

    def latest(self, page: Page) -> tuple[Response, Response]:
        eventually(page, lambda: len(self.responses) >= 2, "the chart's two history requests")
        by_bucket = {("bucket=day" in r.url): r for r in self.responses[-2:]}
        assert set(by_bucket) == {True, False}, [r.url for r in self.responses]
        return by_bucket[True], by_bucket[False]


def api_points(base: str, days: Response, hours: Response, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The points the history API returns for the page's two queries, asked again from here; the
    hours end at the running hour, so that query is pinned (`until`) to the end the page got."""
    assert days.status == 200 and hours.status == 200, (days.url, days.status, hours.url, hours.status)
    page_end = hours.json()["points"][-1]["at"]
    got = []
    for url in (days.url, f"{hours.url}&until={quote(page_end)}"):
        r = requests.get(url, headers=headers, timeout=10)
        assert r.status_code == 200, (url, r.text)
        got += r.json()["points"]
    assert got == days.json()["points"] + hours.json()["points"], (
        "the page got other points than the API gives"
    )
    first = next(i for i, p in enumerate(got) if p["score"] != 0)
    return got[max(first - 1, 0) :]  # the leading zeros trimmed to one


def parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def check_chart(
    page: Page, points: list[dict[str, Any]], flags: Sequence[str] = (), series: int = 2
) -> list[list[str]]:
    """The chart's table holds exactly `points` (a flagged one, the first at or after a flag, marked
    "(flag)"), uPlot plots the same numbers and its canvas has ink; returns the table's rows."""
    labels = page.evaluate(LABELS, [p["at"] for p in points])
    flagged = {next((i for i, p in enumerate(points) if parse(p["at"]) >= parse(f)), -1) for f in flags}
    assert -1 not in flagged, f"a flag after the last point: {flags} {points}"
    want = [
        [label + (" (flag)" if i in flagged else ""), str(p["score"])]
        for i, (label, p) in enumerate(zip(labels, points, strict=True))
    ]
    eventually(page, lambda: page.evaluate(TABLE) == want, "the chart's table to show the API's points")
    plotted = page.evaluate(PLOT)
    assert plotted is not None and plotted["series"] == series
    xs, ys = plotted["data"][0], plotted["data"][1]
    assert ys == [p["score"] for p in points]
    assert xs == [parse(p["at"]).timestamp() for p in points]
    if flags:
        assert [i for i, m in enumerate(plotted["data"][2]) if m is not None] == sorted(flagged)
    expect(page.locator(".chart-plot canvas")).to_have_count(1)
    eventually(page, lambda: page.evaluate(INK) > 500, "uPlot to draw on its canvas")
    return want


def keep_marker(page: Page) -> None:
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__notReloaded === true"))


# ---- tests ------------------------------------------------------------------------------------


def test_the_account_chart_shows_the_history_apis_points_and_follows_a_score_from_another_tab(
    base: str, pages: Pages
) -> None:
    page = pages()
    me = sign_up(page, base, unique("cara"))
    wait_live(page)
    for expected in ("10", "20", "30"):
        expect(page.locator("#play")).to_be_enabled()
        page.locator("#play").click()
        expect(page.locator("#my-standing .my-score")).to_have_text(expected)

    history = HistoryRequests(page)
    page.goto(f"{base}/account")
    wait_live(page)
    days, hours = history.latest(page)
    assert f"/api/v1/users/{me}/history?board=main&period=all" in hours.url
    points = api_points(base, days, hours, {})
    rows = check_chart(page, points)
    assert rows[-1][1] == str(rank_of(base, me)["score"]) == "30"
    assert all(p["score"] == 0 for p in days.json()["points"])  # a new player: no days yet
    scores = [p["score"] for p in points]
    assert scores[0] == 0 and 0 not in scores[1:] and len(scores) <= 4, scores  # one zero, then the climb

    keep_marker(page)
    history.responses.clear()
    tab = page.context.new_page()  # the same player in another tab presses the button
    tab.goto(base)
    wait_live(tab)
    tab.locator("#play").click()
    expect(tab.locator("#my-standing .my-score")).to_have_text("40")
    eventually(page, lambda: page.evaluate(TABLE)[-1:] == [[ANY, "40"]], "the chart to follow the new score")
    days, hours = history.latest(page)
    check_chart(page, api_points(base, days, hours, {}))
    assert not_reloaded(page), "the chart updated by reloading the page"
    assert pages.csp == []


def test_around_you_shows_a_player_at_rank_15_live_and_stays_hidden_for_the_top_10(
    base: str, pages: Pages
) -> None:
    fill_ahead(base, 14)
    assert ranked(base) == 14, "the shared server has more players than this test expects"
    ann_name, bob_name = unique("ann"), unique("bob")
    ann, ann_token = register(base, ann_name)
    score(base, ann_token)
    bob, bob_token = register(base, bob_name)
    score(base, bob_token)  # level with ann, later: behind her
    assert (rank_of(base, ann)["rank"], rank_of(base, bob)["rank"]) == (15, 16)

    page = pages()
    sign_in(page, base, ann_name)
    page.goto(f"{base}/account")
    around = page.locator("#around")
    expect(around).to_be_visible()
    expect(around.get_by_role("heading", name="Around you")).to_be_visible()
    wait_live(page)

    def table() -> list[tuple[str, str, str]]:
        return [tuple(r) for r in page.evaluate(AROUND)]

    want = around_api(base, ann)
    assert [r[:2] for r in want][-2:] == [(str(ann), "#15"), (str(bob), "#16")]
    eventually(page, lambda: table() == want, f"the around table to show {want}")
    mine = around.locator(f'tbody tr[data-user-id="{ann}"]')
    expect(mine).to_have_attribute("aria-current", "true")
    expect(mine).to_contain_text("(you)")
    expect(around.locator('tbody tr[aria-current="true"]')).to_have_count(1)

    keep_marker(page)
    score(base, bob_token)  # bob 20: passes ann
    assert rank_of(base, ann)["rank"] == 16
    moved = around_api(base, ann)
    assert moved[-1] == (str(ann), "#16", "10") and str(bob) in [r[0] for r in moved[:-1]]
    eventually(page, lambda: table() == moved, f"the around table to move to {moved}")
    expect(mine).to_have_attribute("aria-current", "true")
    assert not_reloaded(page), "the around table updated by reloading the page"

    leader = requests.get(f"{base}/api/v1/leaderboard", timeout=10).json()["leaderboard"][0]
    top = pages()
    sign_in(top, base, leader["username"])
    top.goto(f"{base}/account")
    wait_live(top)
    expect(top.locator("#around tbody tr[data-user-id]").first).to_be_attached()  # its around_update came
    expect(top.locator("#around")).to_be_hidden()
    assert pages.csp == []


def test_the_admin_player_page_charts_a_flagged_player_with_the_flag_marked(
    base: str, pages: Pages, mode_of: str
) -> None:
    cheat_name = unique("cheat")
    cheat, token = register(base, cheat_name)
    assert score(base, token, times=BURST + 1)["new_score"] == 10 * (BURST + 1)  # a burst: flagged
    boss = unique("boss")
    admin = {"Authorization": f"Bearer {make_admin(base, boss)}"}

    def flags() -> list[dict[str, Any]]:
        r = requests.get(f"{base}/api/v1/admin/flags", params={"status": "open"}, headers=admin, timeout=10)
        return [f for f in r.json()["flags"] if f["user_id"] == cheat]

    page = pages()
    eventually(page, lambda: bool(flags()), "the burst flag")
    (flag,) = flags()
    assert flag["rule"] == "burst"

    sign_in(page, base, boss)
    history = HistoryRequests(page)
    page.goto(f"{base}/admin/users/{cheat}")
    expect(page.get_by_role("heading", name="Score over time")).to_be_visible()
    days, hours = history.latest(page)
    rows = check_chart(page, api_points(base, days, hours, admin), flags=[flag["created_at"]], series=3)
    (marked,) = [r for r in rows if r[0].endswith(" (flag)")]
    assert marked[1] == str(10 * (BURST + 1))  # the flag came with the burst's last action
    page.locator(".chart-numbers summary").click()
    expect(page.locator(".chart-numbers tbody tr").filter(has_text="(flag)")).to_be_visible()
    expect(page.locator(".chart .u-legend")).to_contain_text("Fraud flag")
    screenshot(page, f"charts-admin-player-{mode_of}", full_page=True)
    assert pages.csp == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_account_page_fits_375_px_without_errors(
    base: str, pages: Pages, scheme: str, mode_of: str
) -> None:
    fill_ahead(base, 10)
    name = unique("nia")
    me, token = register(base, name)
    score(base, token)  # 10, after everyone ranked: outside the top 10
    assert rank_of(base, me)["rank"] > 10

    page = pages(viewport=NARROW, color_scheme=scheme)
    sign_in(page, base, name)
    page.goto(f"{base}/account")
    wait_live(page)
    expect(page.locator("#around")).to_be_visible()
    expect(page.locator(f'#around tbody tr[data-user-id="{me}"]')).to_have_attribute("aria-current", "true")
    expect(page.locator(".chart-plot canvas")).to_have_count(1)
    eventually(page, lambda: page.evaluate(INK) > 500, "uPlot to draw on its canvas")
    page.locator(".chart-numbers summary").click()
    expect(page.locator(".chart-numbers tbody tr").last).to_be_visible()
    page.wait_for_timeout(300)  # the ResizeObserver's resize of the plot
    widths = page.evaluate(
        """() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth,
            plot: document.querySelector(".chart-plot canvas").getBoundingClientRect().right})"""
    )
    assert widths["doc"] <= NARROW["width"] and widths["plot"] <= NARROW["width"], widths
    dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert dark == (scheme == "dark")
    path: Path = screenshot(page, f"charts-account-375-{scheme}-{mode_of}", full_page=True)
    assert path.exists()
    assert pages.errors() == []
    assert pages.csp == [] and pages.console.csp_violations() == []


def test_a_hidden_player_still_sees_their_own_climb(base: str, pages: Pages) -> None:
    name = unique("hid")
    me, token = register(base, name)
    score(base, token)
    r = requests.patch(
        f"{base}/api/v1/me",
        json={"is_hidden": True},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    page = pages()
    sign_in(page, base, name)
    history = HistoryRequests(page)
    page.goto(f"{base}/account")
    expect(page.locator("#t + p")).to_contain_text("Score 10")  # the page knows their score
    days, hours = history.latest(page)
    assert hours.status == days.status == 200, (hours.url, hours.status, days.status)
    eventually(page, lambda: page.evaluate(TABLE)[-1:] == [[ANY, "10"]], "the hidden player's own line")
    expect(page.locator(".chart-empty")).to_be_hidden()


MINUTES = """() => [...document.querySelectorAll('[data-chart="activity"] .chart-numbers tbody tr')]
    .map(tr => [...tr.cells].map(td => td.textContent))"""
# the minute format of the activity table (static/charts.js), for the minutes the API returned
MINUTE_LABELS = """ats => ats.map(a => new Date(Date.parse(a)).toLocaleString(undefined,
    {hour: "2-digit", minute: "2-digit"}))"""


def test_the_admin_activity_chart_counts_accepted_and_rejected_submits_live(base: str, pages: Pages) -> None:
    boss = unique("boss")
    make_admin(base, boss)
    page = pages()
    sign_in(page, base, boss)
    page.goto(f"{base}/admin")
    figure = page.locator('[data-chart="activity"]')
    expect(figure.locator("figcaption")).to_contain_text("Submissions per minute")

    def api() -> list[dict[str, Any]]:
        r = page.context.request.get(f"{base}/admin/activity")  # with the admin's session cookie
        assert r.status == 200, r.text()
        assert r.headers["cache-control"] == "no-store"
        minutes = r.json()["minutes"]
        assert len(minutes) == 60, minutes
        return minutes

    def rows(minutes: list[dict[str, Any]]) -> list[list[str]]:
        labels = page.evaluate(MINUTE_LABELS, [m["at"] for m in minutes])
        return [
            [label, str(m["accepted"]), str(m["rejected"])] for label, m in zip(labels, minutes, strict=True)
        ]

    got: list[list[dict[str, Any]]] = []  # the API's answers, the latest last

    def shows() -> bool:
        """The table holds what the API returns now."""
        got.append(api())
        return page.evaluate(MINUTES) == rows(got[-1])

    eventually(page, shows, "the activity table to show the API's minutes")
    before = got[-1]
    last = before[-1]

    def grown(minutes: list[dict[str, Any]]) -> tuple[int, int]:
        """What the minutes from `before`'s last one on counted more than it did."""
        since = [m for m in minutes if parse(m["at"]) >= parse(last["at"])]
        return (
            sum(m["accepted"] for m in since) - last["accepted"],
            sum(m["rejected"] for m in since) - last["rejected"],
        )

    keep_marker(page)
    _, token = register(base, unique("sub"))
    auth = {"Authorization": f"Bearer {token}"}
    score(base, token, times=2)  # two accepted
    r = requests.post(
        f"{base}/api/v1/actions/token", json={"action_type": "complete_task"}, headers=auth, timeout=10
    )
    assert r.status_code == 201, r.text
    action = {"action_token": r.json()["action_token"]}
    r = requests.post(f"{base}/api/v1/scores", json=action, headers=auth, timeout=10)
    assert r.status_code == 200, r.text  # the third accepted
    r = requests.post(f"{base}/api/v1/scores", json=action, headers=auth, timeout=10)
    assert r.status_code == 409, r.text  # the replay: rejected

    got.clear()
    eventually(
        page,
        lambda: shows() and grown(got[-1]) == (3, 1),
        "the activity table to count the three accepted submits and the rejected one",
    )
    after = got[-1]
    table = page.evaluate(MINUTES)
    if after[-1]["at"] == last["at"]:  # the same running minute: its row grew
        assert table[-1][1:] == [str(last["accepted"] + 3), str(last["rejected"] + 1)], (last, table[-1])
    assert table[-1][1:] == [str(after[-1]["accepted"]), str(after[-1]["rejected"])]
    plotted = page.evaluate(PLOT)
    assert plotted is not None and plotted["series"] == 3
    assert plotted["data"][1] == [m["accepted"] for m in after]
    assert plotted["data"][2] == [m["rejected"] for m in after]
    assert not_reloaded(page), "the activity chart updated by reloading the page"
    assert pages.csp == []
