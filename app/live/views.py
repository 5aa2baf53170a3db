"""Thin transports over the hub: authenticate, release the database session, subscribe, forward."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request
from flask_login import current_user

from app.api.queries import LiveQuery, query
from app.boards.streams import Live
from app.errors import ScoreboardError
from app.extensions import db, sock
from app.live.hub import Hub
from app.live.sse import SseConnection, SseResponse
from app.live.ws import WsConnection
from app.services import services

bp = Blueprint("live", __name__)

TRY_AGAIN_LATER = 1013
POLICY_VIOLATION = 1008


def _user_from_token(token: str | None) -> int | None:
    """:raise ScoreboardError UNAUTHORIZED: the token is not valid."""
    if not token:
        return None
    return int(services().access.verify(token)["sub"])


def _connecting_user() -> int | None:
    """The player a new connection belongs to: `?access_token=`, else the session; None: a watcher."""
    try:
        uid = _user_from_token(request.args.get("access_token"))
    except ScoreboardError:
        uid = None
    if uid is None and current_user.is_authenticated:
        uid = current_user.id
    db.session.remove()  # nothing below needs the database session
    return uid


def _error(code: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"code": code, "message": message}})


def requested_live() -> Live:
    """The (board, period) a live connection, fragment or widget asks for (`?board=&period=`;
    default main, all) as this process follows it.

    :raise ScoreboardError: NOT_FOUND (no such board), INVALID_REQUEST (a period it does not keep).
    """
    args = query(LiveQuery)
    streams = services().streams
    _, stream = streams.stream(args.board, args.period)
    return streams.live(args.board, stream.period)


def _around() -> int | None:
    """`?around=N`: push the connected player their neighbourhood, N each side (SPEC §15)."""
    return query(LiveQuery).around


@sock.route("/ws/scoreboard", bp=bp)
def scoreboard_ws(ws: Any) -> None:
    if services().streams.connections() >= current_app.config["WS_CONNECTION_LIMIT"]:
        ws.close(TRY_AGAIN_LATER, "Too many connections; try again later.")
        return
    try:
        hub = requested_live().hub
    except ScoreboardError as err:
        ws.send(_error(err.code, err.message).decode())
        ws.close(POLICY_VIOLATION, err.message[:120])
        return
    conn = WsConnection(ws, html=request.args.get("format") == "html")
    conn.around = _around()
    uid = _connecting_user()
    hub.attach(conn, user_id=uid)
    heartbeat = current_app.config["WS_HEARTBEAT_INTERVAL"]
    try:
        while not conn.closed:
            raw = ws.receive(timeout=heartbeat)
            if raw is None:
                if not ws.pong_received:  # no answer to the last ping: a dead peer
                    return
                ws.pong_received = False
                conn.ping()
                continue
            _handle_client_message(hub, conn, raw)
    finally:
        hub.detach(conn)


def _handle_client_message(hub: Hub, conn: WsConnection, raw: str | bytes) -> None:
    try:
        message = orjson.loads(raw)
        kind = message.get("type") if isinstance(message, dict) else None
    except orjson.JSONDecodeError:
        kind = None
    if kind == "ping":
        conn.send_json(b'{"type":"pong"}')
    elif kind == "auth":
        try:
            uid = _user_from_token(str(message.get("token") or "")) if message.get("token") else None
            if uid is None:
                raise ScoreboardError("UNAUTHORIZED", "Send a valid access token.")
        except ScoreboardError as err:
            hub.bind_user(conn, None)
            conn.send_json(_error("UNAUTHORIZED", err.message))
            return
        hub.bind_user(conn, uid)
        conn.send_json(orjson.dumps({"type": "auth_ok", "user_id": uid}))
    else:
        conn.send_json(_error("INVALID_REQUEST", 'Send {"type": "ping"} or {"type": "auth", "token": "…"}.'))


@bp.get("/events/scoreboard")
def scoreboard_events() -> Response:
    hub = requested_live().hub
    conn = SseConnection(html=request.args.get("format") == "html")
    conn.around = _around()
    uid = _connecting_user()
    last_id = request.headers.get("Last-Event-ID", "")
    current = hub.current_seq()
    hub.attach(conn, user_id=uid, snapshot=not (last_id.isdigit() and int(last_id) == current))
    config = current_app.config
    return SseResponse(
        conn,
        config["SSE_HEARTBEAT_INTERVAL"],
        config["POLL_INTERVAL_SECONDS"] * 1000,
        lambda: hub.detach(conn),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@bp.before_app_request
def _decline_compression() -> None:
    """Browsers offer permessage-deflate; declining it lets one frame serve every connection."""
    if request.path == "/ws/scoreboard":
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
