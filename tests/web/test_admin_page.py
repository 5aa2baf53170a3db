"""The moderation page (/admin) through the Flask client, in both run modes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, FraudFlag, User
from app.services import services
from tests.helpers import Player, admin_player

Setup = tuple[Player, Player, FlaskClient]


def csrf(client: FlaskClient, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: FlaskClient, player: Player) -> None:
    r = client.post(
        "/login",
        data={"username": player.username, "password": player.password, "csrf_token": csrf(client)},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:500]


def user_row(app: Flask, uid: int) -> Any:
    with app.app_context():
        return db.session.execute(select(User).where(User.id == uid)).scalar_one()


@pytest.fixture
def setup(app: Flask, client: FlaskClient) -> tuple[Player, Player, FlaskClient]:
    """An admin signed in on a browser session; ann, a ranked player with an open flag."""
    boss = admin_player(app, client)
    ann = Player(client, "ann")
    ann.score(2)
    with app.app_context():
        services().rules.flag(ann.id, "burst", "high", {"count": 9})
    browser = app.test_client()
    sign_in(browser, boss)
    return boss, ann, browser


def test_only_admins_get_the_page(app: Flask, client: FlaskClient) -> None:
    ann = Player(client, "ann")
    assert client.get("/admin").status_code == 302  # signed out: to the sign-in page
    browser = app.test_client()
    sign_in(browser, ann)
    for path in ("/admin", "/admin/users", f"/admin/users/{ann.id}", "/admin/audit", "/admin/counts"):
        assert browser.get(path).status_code == 403, path
    token = csrf(browser, "/")
    r = browser.post(
        f"/admin/users/{ann.id}/adjust",
        data={"adjust-points": 100, "adjust-reason": "x", "adjust-csrf_token": token},
    )
    assert r.status_code == 403 and user_row(app, ann.id).score == 0
    assert "Moderation" not in browser.get("/").get_data(as_text=True)


def test_the_queue_counts_and_confirming_a_flag(app: Flask, setup: Setup) -> None:
    boss, ann, browser = setup
    html = browser.get("/admin").get_data(as_text=True)
    assert "Review queue" in html and ">ann</a>" in html and "burst" in html
    assert 'data-count="accepted">2<' in html and 'data-count="rejected">0<' in html
    assert 'href="/admin"' in browser.get("/").get_data(as_text=True)  # the header links here
    flag_id = re.search(r'data-flag-id="(\d+)"', html).group(1)  # type: ignore[union-attr]
    r = browser.post(
        f"/admin/flags/{flag_id}/resolve",
        data={
            "resolution": "confirmed",
            "reason": "bot-like",
            "back": "/admin",
            "csrf_token": csrf(browser, "/admin"),
        },
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin")
    after = browser.get("/admin").get_data(as_text=True)
    assert "All clear" in after and "confirmed" in after
    assert user_row(app, ann.id).is_banned
    assert browser.get("/api/v1/leaderboard").get_json()["leaderboard"] == []
    counts = browser.get("/admin/counts").get_data(as_text=True)
    assert 'data-count="connections">0<' in counts and 'hx-trigger="every 5s"' in counts


def test_search_detail_and_moderation(app: Flask, setup: Setup) -> None:
    boss, ann, browser = setup
    found = browser.get("/admin/users?q=AN").get_data(as_text=True)
    assert f'href="/admin/users/{ann.id}"' in found and "flagged" in found
    detail = browser.get(f"/admin/users/{ann.id}").get_data(as_text=True)
    assert 'data-fact="score">20<' in detail and "complete_task" in detail and "score.accepted" in detail
    token = csrf(browser, f"/admin/users/{ann.id}")

    def act(what: str, **fields: Any) -> str:
        data = {f"{what}-{k}": v for k, v in fields.items()} | {f"{what}-csrf_token": token}
        r = browser.post(f"/admin/users/{ann.id}/{what}", data=data)
        assert r.status_code == 302 and r.headers["Location"].endswith(f"/admin/users/{ann.id}")
        return browser.get(f"/admin/users/{ann.id}").get_data(as_text=True)

    page = act("adjust", points=-5, reason="refund")
    assert 'data-fact="score">15<' in page and "Done: adjust. The player is now rank #1." in page
    page = act("ban", minutes=30, reason="spam")
    assert "banned until" in page and user_row(app, ann.id).banned_until is not None
    assert browser.get("/api/v1/leaderboard").get_json()["leaderboard"] == []
    page = act("unban", reason="appeal")
    assert "rank #1" in page
    act("hide", reason="name")
    assert user_row(app, ann.id).is_hidden
    act("unhide", reason="renamed")
    page = act("reset", reason="cheating")
    assert 'data-fact="score">0<' in page and "not on the board" in page
    with app.app_context():
        by_boss = db.session.execute(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.actor_user_id == boss.id, AuditLog.event.like("admin.%"))
        ).scalar_one()
    assert by_boss == 6


@pytest.mark.parametrize(
    "what, fields, message",
    [
        ("adjust", {"points": "", "reason": "x"}, "Points"),
        ("adjust", {"points": "ten", "reason": "x"}, "Points"),
        ("ban", {"minutes": "0", "reason": "x"}, "minutes"),
        ("ban", {"reason": ""}, "Reason"),
        ("hide", {"reason": "nul\u0000x"}, "Reason"),
        ("reset", {"reason": "x" * 501}, "Reason"),
    ],
)
def test_bad_forms_change_nothing(
    app: Flask, setup: Setup, what: str, fields: dict[str, str], message: str
) -> None:
    boss, ann, browser = setup
    token = csrf(browser, f"/admin/users/{ann.id}")
    with app.app_context():
        before = db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one()
    data = {f"{what}-{k}": v for k, v in fields.items()} | {f"{what}-csrf_token": token}
    r = browser.post(f"/admin/users/{ann.id}/{what}", data=data)
    assert r.status_code == 302
    page = browser.get(f"/admin/users/{ann.id}").get_data(as_text=True)
    assert 'class="flash error"' in page and message in page
    row = user_row(app, ann.id)
    assert (row.score, row.is_banned, row.is_hidden) == (20, False, False)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == before


def test_a_form_without_its_csrf_token_is_refused(app: Flask, setup: Setup) -> None:
    boss, ann, browser = setup
    r = browser.post(f"/admin/users/{ann.id}/adjust", data={"adjust-points": 100, "adjust-reason": "x"})
    assert r.status_code in (400, 403) and user_row(app, ann.id).score == 20


def test_audit_log_page_filters(app: Flask, setup: Setup) -> None:
    boss, ann, browser = setup
    html = browser.get("/admin/audit?event=score.accepted").get_data(as_text=True)
    assert html.count("<td>score.accepted</td>") == 2 and "auth.register" not in html
    html = browser.get(f"/admin/audit?user_id={ann.id}&event=fraud.flagged").get_data(as_text=True)
    assert html.count("<td>fraud.flagged</td>") == 1
    bad = browser.get("/admin/audit?since=yesterday").get_data(as_text=True)
    assert "Not a time" in bad
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(FraudFlag)).scalar_one() == 1
