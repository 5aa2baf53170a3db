"""Board pages (SPEC §14): /boards/{slug} and / with period tabs, the widget and the polling
fragment of one (board, period); both run modes."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api.test_board_scores import CUP, jump
from tests.helpers import Player, admin_player
from tests.web.test_admin_page import sign_in


@pytest.fixture
def cup(app: Flask, client: FlaskClient) -> Player:
    boss = admin_player(app, client)
    assert boss.post("/api/v1/admin/boards", CUP).status_code == 201
    return boss


def live_urls(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'data-(live|sse|poll)="([^"]*)"', page)}


def test_a_board_page_has_tabs_and_follows_its_stream(app: Flask, client: FlaskClient, cup: Player) -> None:
    ann = Player(client)
    jump(ann, 2)
    browser = app.test_client()
    sign_in(browser, ann)
    page = browser.get("/boards/cup?period=weekly").get_data(as_text=True)
    assert "Cup: top 10" in page
    tabs = re.findall(r'<a href="([^"]+)" class="period-tab"( aria-current="page")?>([^<]+)</a>', page)
    assert [(html.unescape(h), bool(c), label) for h, c, label in tabs] == [
        ("/boards/cup?period=all", False, "All time"),
        ("/boards/cup?period=daily", False, "Today"),
        ("/boards/cup?period=weekly", True, "This week"),
        ("/boards/cup?period=monthly", False, "This month"),
    ]
    assert live_urls(page) == {
        "live": "/ws/scoreboard?format=html&board=cup&period=weekly",
        "sse": "/events/scoreboard?format=html&board=cup&period=weekly",
        "poll": "/fragments/leaderboard?board=cup&period=weekly",
    }
    assert 'data-action="jump"' in page and 'data-board="cup"' in page and 'data-period="weekly"' in page
    assert '<span class="my-score" aria-label="Your score">6</span>' in page
    assert ann.username in page
    fragment = client.get("/fragments/leaderboard?board=cup&period=daily").get_data(as_text=True)
    assert ann.username in fragment and ">6<" in fragment.replace(" ", "")
    assert ann.username not in client.get("/fragments/leaderboard").get_data(as_text=True)  # main


def test_main_shows_no_tabs_until_it_keeps_periods(client: FlaskClient, cup: Player) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "period-tab" not in page
    assert live_urls(page)["live"] == "/ws/scoreboard?format=html"  # as before boards
    cup.client.patch("/api/v1/admin/boards/main", json={"periods": ["daily"]}, headers=cup.auth)
    page = client.get("/?period=daily").get_data(as_text=True)
    assert re.search(r'href="/\?period=daily" class="period-tab" aria-current="page">Today<', page)
    assert live_urls(page)["sse"] == "/events/scoreboard?format=html&board=main&period=daily"


def test_the_widget_shows_one_board_and_period(client: FlaskClient, cup: Player) -> None:
    ann = Player(client)
    jump(ann)
    r = client.get("/widget?board=cup&period=daily&theme=dark&limit=5")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-theme="dark"' in page and "<strong>Cup</strong>" in page
    assert live_urls(page)["live"] == "/ws/scoreboard?format=html&board=cup&period=daily"
    assert ann.username in page
    hrefs = [html.unescape(h) for h in re.findall(r'<a href="([^"]+)" class="period-tab"', page)]
    assert "/widget?limit=5&theme=dark&board=cup&period=weekly" in hrefs
    assert "frame-ancestors" in r.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/boards/nope", 404),
        ("/boards/NOPE!", 404),
        ("/boards/cup?period=hourly", 400),
        ("/boards/main?period=daily", 400),
        ("/widget?board=nope", 404),
        ("/widget?board=cup&period=yearly", 400),
        ("/fragments/leaderboard?board=nope", 404),
        ("/fragments/leaderboard?board=cup&period=fortnightly", 400),
    ],
)
def test_pages_for_boards_or_periods_that_do_not_exist(
    client: FlaskClient, cup: Player, path: str, status: int
) -> None:
    assert client.get(path).status_code == status
    page = client.get(path, headers={"Accept": "text/html"})  # a browser: a page, not JSON
    if not path.startswith("/fragments/"):
        assert page.status_code == status and page.mimetype == "text/html"
        assert "board" in page.get_data(as_text=True) or "period" in page.get_data(as_text=True)


def test_a_board_streams_htmx_fragments_like_main(app: Flask, client: FlaskClient, cup: Player) -> None:
    from app.boards.periods import Period

    ann = Player(client)
    jump(ann)
    live = app.extensions["scoreboard"].streams.live("cup", Period.DAILY)
    message = live.hub.current or live.hub._build(force=True)
    assert message is not None
    fragment = message.body(html=True).decode()
    assert "hx-swap-oob" in fragment and ann.username in fragment
