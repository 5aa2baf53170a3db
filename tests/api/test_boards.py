"""Boards (SPEC §14): the public reads, the admin API and its refusals; in both run modes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog
from tests.conftest import CATALOG
from tests.helpers import Player, admin_player, error_code

BOARDS, ADMIN = "/api/v1/boards", "/api/v1/admin/boards"
CUP = {
    "slug": "spring-cup",
    "title": "Spring  Cup",
    "periods": ["weekly", "daily"],
    "timezone": "Europe/Berlin",
    "catalog": {"jump": {"points": 3, "cooldown_seconds": 2, "max_per_hour": 100}, "run": {"points": 1}},
}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def boss(app: Flask, client: FlaskClient) -> Player:
    return admin_player(app, client)


def patch(player: Player, path: str, body: Any) -> Any:
    return player.client.patch(path, json=body, headers=player.auth)


def audit(app: Flask, event: str) -> list[Any]:
    with app.app_context():
        return list(db.session.execute(select(AuditLog).where(AuditLog.event == event)).scalars())


def test_main_is_listed_and_shows_the_deployments_catalog(client: FlaskClient) -> None:
    assert client.get(BOARDS).get_json() == {
        "boards": [{"slug": "main", "title": "Leaderboard", "periods": [], "timezone": "UTC"}]
    }
    main = client.get(f"{BOARDS}/main").get_json()
    assert main["catalog"] == {k: {"cooldown_seconds": 0, "max_per_hour": 0, **v} for k, v in CATALOG.items()}
    assert main["current"] == [{"period": "all", "period_key": "all", "starts_at": None, "ends_at": None}]


def test_create_read_and_edit_a_board(app: Flask, client: FlaskClient, boss: Player) -> None:
    r = boss.post(ADMIN, CUP)
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    assert made["title"] == "Spring Cup" and made["periods"] == ["daily", "weekly"]  # tidied, in order
    assert made["catalog"]["run"] == {"points": 1, "cooldown_seconds": 0, "max_per_hour": 0}
    assert [c["period"] for c in made["current"]] == ["all", "daily", "weekly"]
    daily, weekly = made["current"][1], made["current"][2]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", daily["period_key"]) and re.fullmatch(
        r"\d{4}-W\d\d", weekly["period_key"]
    )
    assert ISO_Z.match(daily["starts_at"]) and ISO_Z.match(daily["ends_at"])
    assert daily["starts_at"][11:16] in ("22:00", "23:00")  # Berlin's midnight in UTC
    assert client.get(f"{BOARDS}/spring-cup").get_json() == made  # public, the same board
    assert [b["slug"] for b in client.get(BOARDS).get_json()["boards"]] == ["main", "spring-cup"]
    assert [b["slug"] for b in boss.get(ADMIN).get_json()["boards"]] == ["main", "spring-cup"]

    r = patch(boss, f"{ADMIN}/spring-cup", {"title": "Summer Cup", "periods": ["monthly"], "timezone": "UTC"})
    assert r.status_code == 200, r.get_json()
    edited = r.get_json()
    assert (edited["title"], edited["periods"], edited["timezone"]) == ("Summer Cup", ["monthly"], "UTC")
    assert edited["catalog"] == made["catalog"] and edited["slug"] == "spring-cup"
    assert [c["period"] for c in edited["current"]] == ["all", "monthly"]

    (created,) = audit(app, "admin.board_create")
    assert created.actor_user_id == boss.id and created.details["slug"] == "spring-cup"
    (updated,) = audit(app, "admin.board_update")
    assert updated.actor_user_id == boss.id
    assert updated.details["changed"]["title"] == {"from": "Spring Cup", "to": "Summer Cup"}
    assert set(updated.details["changed"]) == {"title", "periods", "timezone"}


def test_main_can_be_edited_but_keeps_its_catalog(client: FlaskClient, boss: Player) -> None:
    r = patch(boss, f"{ADMIN}/main", {"title": "Everyone", "periods": ["daily"], "timezone": "Asia/Tokyo"})
    assert r.status_code == 200, r.get_json()
    main = client.get(f"{BOARDS}/main").get_json()
    assert (main["title"], main["periods"], main["timezone"]) == ("Everyone", ["daily"], "Asia/Tokyo")
    r = patch(boss, f"{ADMIN}/main", {"catalog": CUP["catalog"]})
    assert r.status_code == 400 and error_code(r) == "INVALID_REQUEST"
    assert "ACTION_CATALOG" in r.get_json()["error"]["message"]
    assert set(client.get(f"{BOARDS}/main").get_json()["catalog"]) == set(CATALOG)


CREATE_BAD = [
    ({**CUP, "slug": "main"}, 409, "ALREADY_EXISTS", "main again"),
    ({**CUP, "slug": "Spring"}, 400, "INVALID_REQUEST", "capitals in slug"),
    ({**CUP, "slug": "a" * 33}, 400, "INVALID_REQUEST", "slug too long"),
    ({**CUP, "slug": ""}, 400, "INVALID_REQUEST", "slug empty"),
    ({**CUP, "slug": "cup_1"}, 400, "INVALID_REQUEST", "underscore in slug"),
    ({**CUP, "title": " "}, 400, "INVALID_REQUEST", "title blank"),
    ({**CUP, "title": "x" * 101}, 400, "INVALID_REQUEST", "title too long"),
    ({**CUP, "periods": ["yearly"]}, 400, "INVALID_REQUEST", "unknown period"),
    ({**CUP, "periods": ["all"]}, 400, "INVALID_REQUEST", "all as a period"),
    ({**CUP, "periods": ["daily", "daily"]}, 400, "INVALID_REQUEST", "duplicate period"),
    ({**CUP, "periods": "daily"}, 400, "INVALID_REQUEST", "periods not a list"),
    ({**CUP, "timezone": "Mars/Olympus"}, 400, "INVALID_REQUEST", "unknown zone"),
    ({**CUP, "timezone": "localtime"}, 400, "INVALID_REQUEST", "localtime"),
    ({**CUP, "catalog": {}}, 400, "INVALID_REQUEST", "empty catalog"),
    ({**CUP, "catalog": {"Jump": {"points": 1}}}, 400, "INVALID_REQUEST", "bad action type"),
    ({**CUP, "catalog": {"jump": {}}}, 400, "INVALID_REQUEST", "no points"),
    ({**CUP, "catalog": {"jump": {"points": "3"}}}, 400, "INVALID_REQUEST", "points as text"),
    (
        {**CUP, "catalog": {"jump": {"points": 1, "cooldown_seconds": -1}}},
        400,
        "INVALID_REQUEST",
        "negative cooldown",
    ),
    ({**CUP, "catalog": {"jump": {"points": 1, "bonus": 2}}}, 400, "INVALID_REQUEST", "unknown rule field"),
    ({**CUP, "catalog": ["jump"]}, 400, "INVALID_REQUEST", "catalog a list"),
    ({k: v for k, v in CUP.items() if k != "catalog"}, 400, "INVALID_REQUEST", "no catalog"),
    ({k: v for k, v in CUP.items() if k != "title"}, 400, "INVALID_REQUEST", "no title"),
    ({**CUP, "owner": 1}, 400, "INVALID_REQUEST", "unknown field"),
    ({**CUP, "title": 5}, 400, "INVALID_REQUEST", "title a number"),
    ([CUP], 400, "INVALID_REQUEST", "array body"),
]


@pytest.mark.parametrize(("body", "status", "code"), [pytest.param(*c[:3], id=c[3]) for c in CREATE_BAD])
def test_create_refuses_bad_input(app: Flask, boss: Player, body: Any, status: int, code: str) -> None:
    r = boss.post(ADMIN, body)
    assert (r.status_code, error_code(r)) == (status, code), r.get_json()
    assert [b["slug"] for b in boss.get(ADMIN).get_json()["boards"]] == ["main"]
    assert audit(app, "admin.board_create") == []


PATCH_BAD = [
    ("spring-cup", {"slug": "other"}, 400, "INVALID_REQUEST", "slug change"),
    ("spring-cup", {"periods": ["weekly", "weekly"]}, 400, "INVALID_REQUEST", "duplicate period"),
    ("spring-cup", {"periods": ["hourly"]}, 400, "INVALID_REQUEST", "unknown period"),
    ("spring-cup", {"timezone": "Europe/Atlantis"}, 400, "INVALID_REQUEST", "unknown zone"),
    ("spring-cup", {"catalog": {"jump": {"points": 1.5}}}, 400, "INVALID_REQUEST", "fractional points"),
    ("spring-cup", {"title": ["x"]}, 400, "INVALID_REQUEST", "title a list"),
    ("spring-cup", {"color": "red"}, 400, "INVALID_REQUEST", "unknown field"),
    ("main", {"catalog": {"jump": {"points": 1}}}, 400, "INVALID_REQUEST", "main's catalog"),
    ("no-such-board", {"title": "x"}, 404, "NOT_FOUND", "unknown board"),
    ("Not_A_Slug", {"title": "x"}, 404, "NOT_FOUND", "bad slug"),
]


@pytest.mark.parametrize(
    ("slug", "body", "status", "code"), [pytest.param(*c[:4], id=c[4]) for c in PATCH_BAD]
)
def test_edit_refuses_bad_input(
    app: Flask, boss: Player, slug: str, body: Any, status: int, code: str
) -> None:
    assert boss.post(ADMIN, CUP).status_code == 201
    before = boss.get(ADMIN).get_json()
    r = patch(boss, f"{ADMIN}/{slug}", body)
    assert (r.status_code, error_code(r)) == (status, code), r.get_json()
    assert boss.get(ADMIN).get_json() == before
    assert audit(app, "admin.board_update") == []


@pytest.mark.parametrize("slug", ["no-such-board", "Main", "a" * 33, "sp%20ace", "-%00"])
def test_an_unknown_or_malformed_slug_is_404(client: FlaskClient, slug: str) -> None:
    r = client.get(f"{BOARDS}/{slug}")
    assert (r.status_code, error_code(r)) == (404, "NOT_FOUND")


def test_malformed_json_and_wrong_content_type(boss: Player) -> None:
    r = boss.client.post(ADMIN, data="{", content_type="application/json", headers=boss.auth)
    assert (r.status_code, error_code(r)) == (400, "INVALID_REQUEST")
    r = boss.client.post(ADMIN, data=json.dumps(CUP), content_type="text/plain", headers=boss.auth)
    assert (r.status_code, error_code(r)) == (400, "INVALID_REQUEST")


def test_the_admin_calls_need_an_admin(client: FlaskClient) -> None:
    ann = Player(client, "ann")
    calls = [("GET", ADMIN, None), ("POST", ADMIN, CUP), ("PATCH", f"{ADMIN}/main", {"title": "x"})]
    for method, path, body in calls:
        r = client.open(path, method=method, json=body)
        assert (r.status_code, error_code(r)) == (401, "UNAUTHORIZED"), path
        r = client.open(path, method=method, json=body, headers=ann.auth)
        assert (r.status_code, error_code(r)) == (403, "FORBIDDEN"), path
    assert [b["slug"] for b in client.get(BOARDS).get_json()["boards"]] == ["main"]
