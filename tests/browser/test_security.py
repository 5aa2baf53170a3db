"""CSRF on forms and on the session-authenticated API; security headers; no CSP violations in the pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, Response, expect

from tests.browser.conftest import Console
from tests.browser.helpers import PASSWORD, register, sign_up, wait_live

REFUSED = (400, 403)  # a form post without its token


def test_forms_and_the_api_refuse_a_post_without_the_csrf_token(
    hosts: Any, new_page: Callable[..., Page]
) -> None:
    (app,) = hosts(1)
    page = new_page()
    sign_up(page, app.url, "eve")
    http = page.context.request  # the signed-in browser's cookies, but no token

    assert http.post(f"{app.url}/account", form={"display_name": "Mallory"}).status in REFUSED
    assert http.post(f"{app.url}/account/delete", form={"confirm": "eve"}).status in REFUSED
    assert http.post(f"{app.url}/logout", form={}).status in (*REFUSED, 302)  # a redirect, still signed in
    page.goto(f"{app.url}/account")
    expect(page.get_by_label("Display name")).to_have_value("eve")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    for path, body in (
        ("/api/v1/actions/token", {"action_type": "complete_task"}),
        ("/api/v1/scores", {"action_token": "x"}),
    ):
        r = http.post(app.url + path, data=body)
        assert r.status == 403, r.text()
        assert r.json()["error"]["code"] == "FORBIDDEN"
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    ok = http.post(
        f"{app.url}/api/v1/actions/token",
        data={"action_type": "complete_task"},
        headers={"X-CSRFToken": token},
    )
    assert ok.status == 201, ok.text()  # the same request with the header is accepted

    register(app.url, "ann")
    visitor = new_page()
    visitor.goto(f"{app.url}/login")  # has a session (and a token) now; the post leaves it out
    r = visitor.context.request.post(f"{app.url}/login", form={"username": "ann", "password": PASSWORD})
    assert r.status in REFUSED
    visitor.goto(app.url)
    nav = visitor.get_by_role("navigation", name="Account")
    expect(nav.get_by_role("link", name="Sign in")).to_be_visible()


def check_headers(response: Response | None) -> None:
    assert response is not None
    h = response.headers
    directives = {d.split()[0]: d.split()[1:] for d in h["content-security-policy"].split(";") if d.strip()}
    assert "'unsafe-inline'" not in directives["script-src"], h["content-security-policy"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"]
    if "/widget" in response.url:
        assert directives["frame-ancestors"] == ["*"]
    else:
        assert directives["frame-ancestors"] == ["'none'"] and h["x-frame-options"] == "DENY"


def test_security_headers_and_no_csp_violations(
    hosts: Any, new_page: Callable[..., Page], console: Console
) -> None:
    (app,) = hosts(1)
    page = new_page()
    responses: list[Response] = []
    page.on("response", lambda r: responses.append(r))
    for path in ("/", "/login", "/register", "/widget?theme=dark", "/no-such-page"):
        check_headers(page.goto(app.url + path))
    sign_up(page, app.url, "sam")
    check_headers(page.goto(app.url))
    wait_live(page)
    page.locator("#play").click()  # exercise the live swaps and the animations
    expect(page.locator("#my-standing .my-score")).to_have_text("10")
    expect(page.locator("#board-rows tr[data-user-id]")).to_have_count(1)
    check_headers(page.goto(f"{app.url}/account"))
    assert all(r.headers.get("x-content-type-options") == "nosniff" for r in responses), [
        r.url for r in responses if r.headers.get("x-content-type-options") != "nosniff"
    ]
    assert console.csp_violations() == []
