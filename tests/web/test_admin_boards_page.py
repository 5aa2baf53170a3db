"""The boards page (/admin/boards): create and edit through the forms, the embed snippet; both run modes."""

from __future__ import annotations

import html
import json
import re

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import Player, admin_player
from tests.web.test_admin_page import csrf, sign_in

PAGE = "/admin/boards"


def signed_in_admin(app: Flask, client: FlaskClient) -> FlaskClient:
    browser = app.test_client()
    sign_in(browser, admin_player(app, client))
    return browser


def test_create_and_edit_a_board_through_the_forms(app: Flask, client: FlaskClient) -> None:
    browser = signed_in_admin(app, client)
    page = browser.get(PAGE).get_data(as_text=True)
    assert 'href="/admin/boards" aria-current="page">Boards<' in page and 'data-board="main"' in page
    token = csrf(browser, PAGE)
    form = {
        "new-csrf_token": token,
        "new-slug": "spring-cup",
        "new-title": "Spring Cup",
        "new-weekly": "y",
        "new-timezone": "Europe/Berlin",
        "new-catalog": json.dumps({"jump": {"points": 3}}),
    }
    r = browser.post(PAGE, data=form, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Board spring-cup created." in page
    board = client.get("/api/v1/boards/spring-cup").get_json()
    assert (board["title"], board["periods"], board["timezone"]) == (
        "Spring Cup",
        ["weekly"],
        "Europe/Berlin",
    )
    snippet = html.unescape(re.search(r'<textarea id="embed-spring-cup"[^>]*>([^<]*)<', page).group(1))  # type: ignore[union-attr]
    assert snippet.startswith(
        '<iframe src="https://localhost/widget?board=spring-cup&amp;period=all&amp;limit=10&amp;theme=light"'
    )

    fields = {"csrf_token": token, "title": "Summer Cup", "daily": "y", "timezone": "UTC",
              "catalog": json.dumps({"run": {"points": 1}})}  # fmt: skip
    edit = {f"spring-cup-{name}": value for name, value in fields.items()}
    r = browser.post(f"{PAGE}/spring-cup", data=edit, follow_redirects=True)
    assert "Board spring-cup saved." in r.get_data(as_text=True)
    board = client.get("/api/v1/boards/spring-cup").get_json()
    assert (board["title"], board["periods"], board["timezone"]) == ("Summer Cup", ["daily"], "UTC")
    assert list(board["catalog"]) == ["run"]


def test_bad_input_is_flashed_and_changes_nothing(app: Flask, client: FlaskClient) -> None:
    browser = signed_in_admin(app, client)
    token = csrf(browser, PAGE)
    bad = {"new-csrf_token": token, "new-slug": "Bad_Slug", "new-title": "x", "new-timezone": "UTC",
           "new-catalog": '{"jump": {"points": 1}}'}  # fmt: skip
    page = browser.post(PAGE, data=bad, follow_redirects=True).get_data(as_text=True)
    assert "slug" in page and 'class="flash error"' in page
    page = browser.post(PAGE, data={**bad, "new-slug": "ok", "new-catalog": "{"}, follow_redirects=True)
    assert "not JSON" in page.get_data(as_text=True)
    main = {"main-csrf_token": token, "main-title": "Main", "main-timezone": "Mars/Base"}
    page = browser.post(f"{PAGE}/main", data=main, follow_redirects=True).get_data(as_text=True)
    assert "unknown timezone" in page
    r = browser.post(PAGE, data={**bad, "new-csrf_token": "forged", "new-slug": "ok"})
    assert r.status_code == 403  # the CSRF check refuses a forged token
    assert [b["slug"] for b in client.get("/api/v1/boards").get_json()["boards"]] == ["main"]
    assert client.get("/api/v1/boards/main").get_json()["title"] == "Leaderboard"


def test_only_admins_get_the_page(app: Flask, client: FlaskClient) -> None:
    assert client.get(PAGE).status_code == 302
    browser = app.test_client()
    sign_in(browser, Player(client, "ann"))
    assert browser.get(PAGE).status_code == 403
    token = csrf(browser, "/")
    r = browser.post(
        PAGE, data={"new-csrf_token": token, "new-slug": "x", "new-title": "x", "new-timezone": "UTC"}
    )
    assert r.status_code == 403
