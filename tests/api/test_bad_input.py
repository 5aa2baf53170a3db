"""Bad input of every kind gets a clear 4xx in the SPEC §6 error shape, and writes nothing (SPEC §6, §13)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from app.extensions import db
from app.services import services
from tests.helpers import Player, admin_player, error_code, oauth_error

REGISTER, LOGIN = "/api/v1/auth/register", "/api/v1/auth/login"
ACTIONS, SCORES, ME = "/api/v1/actions/token", "/api/v1/scores", "/api/v1/me"
TOKEN, REVOKE = "/oauth/token", "/oauth/revoke"
BAN, UNBAN, HIDE, UNHIDE, ADJUST, RESET = (
    f"/api/v1/admin/users/UID/{what}" for what in ("ban", "unban", "hide", "unhide", "adjust", "reset")
)
RESOLVE = "/api/v1/admin/flags/FLAG/resolve"
ADMIN = {BAN, UNBAN, HIDE, UNHIDE, ADJUST, RESET, RESOLVE}
SAME_AS_BAN = {UNBAN, HIDE, UNHIDE, RESET}
AUTHED = {ACTIONS, SCORES, ME}
NUMBERS = {"points", "duration_seconds"}  # fields for which 12345 is a good value
OPTIONAL = {"duration_seconds"}
OVERSIZE = 64 * 1024 + 1

# A valid body for each JSON endpoint; the cases below break it one way at a time.
VALID: dict[str, dict[str, Any]] = {
    REGISTER: {"username": "newbie", "email": "newbie@example.com", "password": "password123"},
    LOGIN: {"username": "ann", "password": "password123"},
    ACTIONS: {"action_type": "complete_task"},
    SCORES: {"action_token": "a1.00000000.1.complete_task.nonce.1.sig"},
    ME: {"display_name": "Someone Else"},
    BAN: {"reason": "spam", "duration_seconds": 60},
    UNBAN: {"reason": "appeal granted"},
    HIDE: {"reason": "offensive name"},
    UNHIDE: {"reason": "renamed"},
    ADJUST: {"points": 5, "reason": "refund"},
    RESET: {"reason": "cheating"},
    RESOLVE: {"resolution": "cleared", "reason": "false alarm"},
}
FORM_VALID: dict[str, dict[str, str]] = {
    TOKEN: {"grant_type": "refresh_token", "refresh_token": "REFRESH", "client_id": "scoreboard-web"},
    REVOKE: {"token": "REFRESH", "client_id": "scoreboard-web"},
}


@dataclass(frozen=True)
class Bad:
    """One bad request and the refusal it must get."""

    path: str
    body: bytes | str | dict[str, str] | None
    content_type: str | None = "application/json"
    status: int = 400
    code: str = "INVALID_REQUEST"
    method: str = "POST"
    id: str = field(default="", compare=False)

    def param(self) -> Any:
        name = f"{self.method} {self.path.rsplit('/', 1)[-1]}: {self.id}"
        return pytest.param(self, id=name)


def js(path: str, obj: Any, code: str = "INVALID_REQUEST", status: int = 400, id: str = "") -> Bad:
    return Bad(
        path,
        json.dumps(obj),
        method="PATCH" if path == ME else "POST",
        code=code,
        status=status,
        id=id or json.dumps(obj)[:40],
    )


def raw(
    path: str,
    body: bytes | str | None,
    id: str,
    content_type: str | None = "application/json",
    status: int = 400,
    code: str = "INVALID_REQUEST",
) -> Bad:
    return Bad(path, body, content_type, status, code, "PATCH" if path == ME else "POST", id)


def form(
    path: str,
    data: dict[str, str] | bytes | str,
    id: str,
    status: int = 400,
    code: str = "invalid_request",
    content_type: str | None = "application/x-www-form-urlencoded",
) -> Bad:
    return Bad(path, data, content_type, status, code, "POST", id)


def _shape_cases() -> list[Bad]:
    """Every JSON endpoint: bodies that are not what a JSON object endpoint takes."""
    out = []
    for path, valid in VALID.items():
        good = json.dumps(valid)
        if path in SAME_AS_BAN:  # one model (ReasonIn) for all four: BAN's cases cover it
            out += [js(path, {**valid, "unexpected": 1}, id="unknown field"), js(path, {}, id="empty object")]
            continue
        if path in ADMIN:  # the same body parsing as the endpoints above: a sample, then per field
            out += [
                raw(path, "{'single': 'quotes'}", "not JSON"),
                raw(path, "[" + good + "]", "a list"),
                raw(path, "", "empty body"),
                raw(path, json.dumps({**valid, "pad": "x" * OVERSIZE}), "over 64 KiB", status=413),
                js(path, {**valid, "unexpected": 1}, id="unknown field"),
            ]
        else:
            out += [
                raw(path, good[:-3], "truncated JSON"),
                raw(path, good + " x", "trailing garbage"),
                raw(path, "{'single': 'quotes'}", "not JSON"),
                raw(path, "[" + good + "]", "a list"),
                raw(path, json.dumps("a string"), "a string"),
                raw(path, "null", "null"),
                raw(path, "42", "a number"),
                raw(path, "", "empty body"),
                raw(path, None, "no body at all"),
                raw(path, b'{"x": "\xff\xfe"}', "invalid UTF-8"),
                raw(path, '{"x": ' * 4000 + "1" + "}" * 4000, "deeply nested"),
                raw(path, good, "text/plain", content_type="text/plain"),
                raw(path, good, "no Content-Type", content_type=None),
                raw(path, "a=1&b=2", "form-encoded", content_type="application/x-www-form-urlencoded"),
                raw(path, json.dumps({**valid, "pad": "x" * OVERSIZE}), "over 64 KiB", status=413),
                js(path, {**valid, "unexpected": 1}, id="unknown field"),
            ]
        if path != ME:  # every field of PATCH /me is optional: {} and null mean "no change"
            out.append(js(path, {}, id="empty object"))
        for name in valid:
            if path != ME and name not in OPTIONAL:
                out.append(js(path, {k: v for k, v in valid.items() if k != name}, id=f"missing {name}"))
                out.append(js(path, {**valid, name: None}, id=f"{name} null"))
            if name in NUMBERS:
                out.append(js(path, {**valid, name: str(valid[name])}, id=f"{name} a string"))
                out.append(js(path, {**valid, name: 1.5}, id=f"{name} a fraction"))
                out.append(js(path, {**valid, name: True}, id=f"{name} true"))
            else:
                out.append(js(path, {**valid, name: 12345}, id=f"{name} a number"))
            out.append(js(path, {**valid, name: [valid[name]]}, id=f"{name} a list"))
            out.append(js(path, {**valid, name: {"$ne": ""}}, id=f"{name} an object"))
    return out


def _field_cases() -> list[Bad]:
    """Per endpoint: values of the right type that are still wrong."""
    reg, log, me = VALID[REGISTER], VALID[LOGIN], VALID[ME]
    return [
        js(REGISTER, {**reg, "username": "ab"}, id="username too short"),
        js(REGISTER, {**reg, "username": "a" * 33}, id="username too long"),
        js(REGISTER, {**reg, "username": "has space"}, id="username with a space"),
        js(REGISTER, {**reg, "username": "bad!name"}, id="username with punctuation"),
        js(REGISTER, {**reg, "username": "émile"}, id="username not ASCII"),
        js(REGISTER, {**reg, "username": "nul\u0000x"}, id="username with NUL"),
        js(REGISTER, {**reg, "username": ""}, id="username empty"),
        js(REGISTER, {**reg, "password": "short"}, id="password too short"),
        js(REGISTER, {**reg, "password": "p" * 129}, id="password too long"),
        js(REGISTER, {**reg, "password": ""}, id="password empty"),
        js(REGISTER, {**reg, "email": "not-an-email"}, id="email without @"),
        js(REGISTER, {**reg, "email": "a@b"}, id="email without a domain"),
        js(REGISTER, {**reg, "email": "x" * 250 + "@example.com"}, id="email too long"),
        js(REGISTER, {**reg, "email": "nul\u0000@example.com"}, id="email with NUL"),
        js(REGISTER, {**reg, "email": "tab\t@example.com"}, id="email with a control character"),
        raw(
            REGISTER,
            '{"username": "newbie", "email": "x\\ud800@example.com", "password": "password123"}',
            "email with a lone surrogate",
        ),
        js(REGISTER, {**reg, "role": "admin"}, id="role smuggled in"),
        js(REGISTER, {**reg, "score": 1000}, id="score smuggled in"),
        js(LOGIN, {**log, "username": "a" * 65}, id="username too long"),
        js(LOGIN, {**log, "password": "p" * 129}, id="password too long"),
        js(LOGIN, {**log, "username": "nul\u0000x"}, id="username with NUL"),
        raw(LOGIN, '{"username": "\\ud800", "password": "password123"}', "username a lone surrogate"),
        js(LOGIN, {**log, "password": True}, id="password true"),
        js(ACTIONS, {"action_type": "no_such_action"}, code="INVALID_ACTION", id="unknown action"),
        js(ACTIONS, {"action_type": "COMPLETE_TASK"}, code="INVALID_ACTION", id="action in capitals"),
        js(ACTIONS, {"action_type": ""}, code="INVALID_ACTION", id="action empty"),
        js(ACTIONS, {"action_type": "nul\u0000"}, code="INVALID_ACTION", id="action with NUL"),
        js(ACTIONS, {"action_type": "x" * 65}, id="action too long"),
        js(ACTIONS, {"action_type": "complete_task", "points": 1000}, id="points smuggled in"),
        js(SCORES, {"action_token": "garbage"}, code="TOKEN_INVALID", id="garbage token"),
        js(SCORES, {"action_token": ""}, code="TOKEN_INVALID", id="empty token"),
        js(
            SCORES,
            {"action_token": "a1.ffffffff.1.complete_task.n.1.sig"},
            code="TOKEN_INVALID",
            id="token signed by an unknown key",
        ),
        js(SCORES, {"action_token": "a1." * 7}, code="TOKEN_INVALID", id="token all dots"),
        js(SCORES, {"action_token": "tökén"}, code="TOKEN_INVALID", id="token not ASCII"),
        js(SCORES, {"action_token": "x" * 513}, id="token too long"),
        js(SCORES, {"action_token": "garbage", "points": 1000}, id="points smuggled in"),
        js(ME, {**me, "display_name": ""}, id="display_name empty"),
        js(ME, {**me, "display_name": "   "}, id="display_name blank"),
        js(ME, {**me, "display_name": "x" * 65}, id="display_name too long"),
        js(ME, {**me, "display_name": "nul\u0000x"}, id="display_name with NUL"),
        js(ME, {**me, "display_name": "evil\u202eeman"}, id="display_name with a bidi override"),
        js(ME, {"is_hidden": "true"}, id="is_hidden the string true"),
        js(ME, {"is_hidden": 1}, id="is_hidden 1"),
        js(ME, {"display_name": "Fine Name", "is_hidden": "yes"}, id="one good field one bad"),
        js(ME, {"display_name": "   ", "is_hidden": True}, id="blank name with a good is_hidden"),
        js(ME, {"username": "renamed"}, id="username not changeable"),
        js(ME, {"score": 1_000_000}, id="score not changeable"),
        js(ME, {"is_banned": False}, id="is_banned not changeable"),
        *(
            case
            for path in (BAN, ADJUST, RESOLVE)  # one model (ReasonIn) checks every reason
            for case in (
                js(path, {**VALID[path], "reason": ""}, id="reason empty"),
                js(path, {**VALID[path], "reason": " \t "}, id="reason blank"),
                js(path, {**VALID[path], "reason": "x" * 501}, id="reason too long"),
                js(path, {**VALID[path], "reason": "nul\u0000x"}, id="reason with NUL"),
            )
        ),
        js(BAN, {**VALID[BAN], "duration_seconds": 0}, id="duration zero"),
        js(BAN, {**VALID[BAN], "duration_seconds": -60}, id="duration negative"),
        js(BAN, {**VALID[BAN], "duration_seconds": 10**12}, id="duration beyond ten years"),
        js(ADJUST, {**VALID[ADJUST], "points": 10**13}, id="points huge"),
        js(ADJUST, {**VALID[ADJUST], "points": -(10**13)}, id="points hugely negative"),
        js(ADJUST, {**VALID[ADJUST], "user_id": 1}, id="user_id smuggled in"),
        js(RESOLVE, {**VALID[RESOLVE], "resolution": "maybe"}, id="unknown resolution"),
        js(RESOLVE, {**VALID[RESOLVE], "resolution": "CLEARED"}, id="resolution in capitals"),
        js(RESOLVE, {**VALID[RESOLVE], "status": "cleared"}, id="status smuggled in"),
    ]


def _oauth_cases() -> list[Bad]:
    """The token and revocation endpoints answer in RFC 6749 §5.2 / RFC 7009 shape: `code` is the
    RFC's error here."""
    tok, rev = FORM_VALID[TOKEN], FORM_VALID[REVOKE]
    huge = "x" * 60_000
    return [
        form(TOKEN, {}, "empty form", code="unsupported_grant_type"),
        form(
            TOKEN,
            {**tok, "grant_type": "password", "username": "ann", "password": "password123"},
            "password grant",
            code="unsupported_grant_type",
        ),
        form(
            TOKEN,
            {**tok, "grant_type": "client_credentials"},
            "client_credentials grant",
            code="unsupported_grant_type",
        ),
        form(TOKEN, {**tok, "grant_type": "nonsense"}, "unknown grant", code="unsupported_grant_type"),
        form(TOKEN, {**tok, "grant_type": huge}, "huge grant_type", code="unsupported_grant_type"),
        form(
            TOKEN,
            {k: v for k, v in tok.items() if k != "grant_type"},
            "missing grant_type",
            code="unsupported_grant_type",
        ),
        form(TOKEN, {k: v for k, v in tok.items() if k != "refresh_token"}, "missing refresh_token"),
        form(TOKEN, {**tok, "refresh_token": "garbage"}, "garbage refresh_token", code="invalid_grant"),
        form(TOKEN, {**tok, "refresh_token": huge}, "huge refresh_token", code="invalid_grant"),
        form(
            TOKEN,
            {**tok, "scope": "read:leaderboard update:score admin"},
            "wider scope",
            code="invalid_scope",
        ),
        form(TOKEN, {**tok, "scope": "root"}, "unknown scope", code="invalid_scope"),
        form(
            TOKEN,
            {k: v for k, v in tok.items() if k != "client_id"},
            "missing client_id",
            401,
            "invalid_client",
        ),
        form(TOKEN, {**tok, "client_id": "no-such-client"}, "unknown client", 401, "invalid_client"),
        form(TOKEN, {**tok, "client_id": huge}, "huge client_id", 401, "invalid_client"),
        form(
            TOKEN,
            {**tok, "client_secret": "not-the-secret"},
            "a secret for the public client",
            401,
            "invalid_client",
        ),
        form(
            TOKEN,
            {"grant_type": "authorization_code", "code": "nope", "client_id": "scoreboard-web"},
            "authorization_code for the web client",
            code="unauthorized_client",
        ),
        form(
            TOKEN,
            "grant_type=refresh_token&grant_type=authorization_code&refresh_token=REFRESH"
            "&client_id=scoreboard-web",
            "repeated grant_type",
        ),
        form(
            TOKEN,
            "grant_type=refresh_token&refresh_token=REFRESH&refresh_token=REFRESH&client_id=scoreboard-web",
            "repeated refresh_token",
        ),
        form(
            TOKEN,
            "grant_type=refresh_token&refresh_token=REFRESH&client_id=scoreboard-web&client_id=scoreboard-web",
            "repeated client_id",
        ),
        form(
            TOKEN,
            json.dumps(tok),
            "JSON instead of a form",
            content_type="application/json",
            code="unsupported_grant_type",
        ),
        form(
            TOKEN,
            "grant_type=refresh_token&refresh_token=REFRESH&client_id=scoreboard-web&pad=" + "x" * OVERSIZE,
            "over 64 KiB",
            413,
        ),
        form(REVOKE, {}, "empty form", 401, "invalid_client"),
        form(REVOKE, {k: v for k, v in rev.items() if k != "token"}, "missing token"),
        form(REVOKE, {**rev, "token": huge}, "huge token", 200, ""),  # RFC 7009 §2.2: unknown is fine
        form(
            REVOKE,
            {k: v for k, v in rev.items() if k != "client_id"},
            "missing client_id",
            401,
            "invalid_client",
        ),
        form(REVOKE, {**rev, "client_id": "no-such-client"}, "unknown client", 401, "invalid_client"),
        form(
            REVOKE,
            {**rev, "token": "not-ours", "token_type_hint": "id_token"},
            "unknown token_type_hint (ignored, RFC 7009 §2.1)",
            200,
            "",
        ),
        form(REVOKE, "token=REFRESH&token=REFRESH&client_id=scoreboard-web", "repeated token"),
        form(
            REVOKE,
            json.dumps(rev),
            "JSON instead of a form",
            401,
            "invalid_client",
            content_type="application/json",
        ),
        form(REVOKE, "token=REFRESH&client_id=scoreboard-web&pad=" + "x" * OVERSIZE, "over 64 KiB", 413),
    ]


CASES = _shape_cases() + _field_cases() + _oauth_cases()


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    assert error_code(response) == code, response.get_json()
    error = response.get_json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "retry_after"}


def state(app: Flask, audited: bool = True) -> dict[str, Any]:
    """Everything a bad request must leave alone."""

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in db.session.execute(text(sql))]

    with app.app_context():
        out = {
            "users": rows(
                "SELECT id, username, email, display_name, role, score, score_updated_at, is_hidden,"
                " is_banned, is_flagged, suspended_until, password_hash FROM users ORDER BY id"
            ),
            "score_events": rows("SELECT id, user_id, points FROM score_events ORDER BY id"),
            "tokens": rows("SELECT id, rotated_at, revoked_at FROM oauth_tokens ORDER BY id"),
            "flags": rows("SELECT id, status FROM fraud_flags ORDER BY id"),
        }
        if audited:
            out["audit_log"] = rows("SELECT id FROM audit_log ORDER BY id")
        return out


@pytest.fixture
def ann(client: FlaskClient) -> Player:
    """A ranked player, so a stray write to scores or the board would show."""
    player = Player(client, "ann")
    player.score(1)
    return player


@pytest.fixture
def boss(app: Flask, client: FlaskClient, ann: Player) -> Player:
    """An admin, and an open flag on ann for the admin calls to aim at."""
    with app.app_context():
        services().rules.flag(ann.id, "burst", "high", {"count": 9})
    return admin_player(app, client)


def _send(client: FlaskClient, case: Bad, ann: Player, boss: Player | None = None) -> Any:
    caller = boss if case.path in ADMIN else ann
    headers = dict(caller.auth) if case.path in AUTHED | ADMIN and caller is not None else {}
    path = case.path.replace("UID", str(ann.id))
    if "FLAG" in path:
        with client.application.app_context():
            flag_id = db.session.execute(text("SELECT max(id) FROM fraud_flags")).scalar_one()
        path = path.replace("FLAG", str(flag_id))
    body = case.body
    if isinstance(body, str):
        body = body.replace("REFRESH", ann.tokens["refresh_token"])
    elif isinstance(body, dict):
        body = {k: v.replace("REFRESH", ann.tokens["refresh_token"]) for k, v in body.items()}
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["data"] = body
    if case.content_type is not None:
        kwargs["content_type"] = case.content_type
    return client.open(path, method=case.method, **kwargs)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_bad_input_is_refused_and_writes_nothing(
    app: Flask, client: FlaskClient, ann: Player, case: Bad, request: pytest.FixtureRequest
) -> None:
    boss = request.getfixturevalue("boss") if case.path in ADMIN else None
    audited = case.path != SCORES  # refused score submissions are audited by design (SPEC §5)
    before = state(app, audited)
    response = _send(client, case, ann, boss)
    if case.path in (TOKEN, REVOKE) and case.status == 200:
        assert response.status_code == 200, response.get_data(as_text=True)
    elif case.path in (TOKEN, REVOKE):
        oauth_error(response, case.status, case.code)
    else:
        assert_error(response, case.status, case.code)
    assert state(app, audited) == before
    # The caller's account still works as before.
    assert client.post(LOGIN, json={"username": "ann", "password": ann.password}).status_code == 200


def test_a_refused_score_submission_is_audited_with_its_reason(
    app: Flask, client: FlaskClient, ann: Player
) -> None:
    assert_error(ann.submit("garbage"), 400, "TOKEN_INVALID")
    with app.app_context():
        row = db.session.execute(
            text("SELECT event, reason_code, subject_user_id FROM audit_log ORDER BY id DESC LIMIT 1")
        ).one()
    assert tuple(row) == ("score.rejected", "TOKEN_INVALID", ann.id)


def test_a_tampered_token_with_a_non_ascii_signature_is_token_invalid(app: Flask, ann: Player) -> None:
    body, _, signature = ann.action_token().rpartition(".")
    before = state(app, audited=False)["score_events"]
    assert_error(ann.submit(f"{body}.{'é' * len(signature)}"), 400, "TOKEN_INVALID")
    assert state(app, audited=False)["score_events"] == before


# -- query strings, routes and methods ---------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "limit=1e2",
        "limit=%00",
        "limit=99999999999999999999999999",
        "offset=-1",
        "offset=abc",
        "offset=1e3",
    ],
)
def test_bad_leaderboard_query_is_invalid_request(client: FlaskClient, query: str) -> None:
    assert_error(client.get(f"/api/v1/leaderboard?{query}"), 400, "INVALID_REQUEST")


@pytest.mark.parametrize("query", ["radius=-1", "radius=51", "radius=abc"])
def test_bad_around_query_is_invalid_request(client: FlaskClient, ann: Player, query: str) -> None:
    assert_error(client.get(f"/api/v1/leaderboard/around/{ann.id}?{query}"), 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/v1/nothing-here"),
        ("GET", "/no/such/page"),
        ("POST", "/api/v1/scores/1"),
        ("GET", "/api/v1/users/abc/rank"),
        ("GET", "/api/v1/users/999999/rank"),
        ("GET", "/api/v1/leaderboard/around/999999"),
        ("GET", "/oauth/nothing"),
    ],
)
def test_unknown_routes_are_not_found(client: FlaskClient, method: str, path: str) -> None:
    assert_error(client.open(path, method=method), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("GET", SCORES, "POST"),
        ("GET", ACTIONS, "POST"),
        ("DELETE", LOGIN, "POST"),
        ("PUT", REGISTER, "POST"),
        ("PUT", ME, "PATCH"),
        ("GET", TOKEN, "POST"),
        ("PUT", TOKEN, "POST"),
        ("DELETE", TOKEN, "POST"),
        ("GET", REVOKE, "POST"),
        ("PATCH", REVOKE, "POST"),
        ("POST", "/oauth/userinfo", "GET"),
        ("POST", "/.well-known/jwks.json", "GET"),
        ("POST", "/.well-known/oauth-authorization-server", "GET"),
        ("DELETE", "/oauth/authorize", "GET"),
        ("POST", "/api/v1/leaderboard", "GET"),
    ],
)
def test_wrong_method_is_405_in_the_error_shape(
    client: FlaskClient, method: str, path: str, allowed: str
) -> None:
    response = client.open(path, method=method, json={})
    if path in (TOKEN, REVOKE):
        oauth_error(response, 405, "invalid_request")
    else:
        assert_error(response, 405, "INVALID_REQUEST")
    assert allowed in response.headers.get("Allow", "")
