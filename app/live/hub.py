"""This process's live connections and the one broadcaster that feeds them.

The broker listener hands every change event to `Hub.handle`. Changes that move the board wake
the broadcaster, which sends at most one `leaderboard_update` per LIVE_MIN_INTERVAL_MS window,
always ending on the latest state, and only when the top 10 (ranks, names or scores) changed. Each
message is serialised once per wire format and the same bytes go to every connection. With
tracing on, each broadcast is a span of its own, linked to the spans of this process's changes
that woke it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson

from app import tracing
from app.live.frames import http_chunk, sse_event, ws_text_frame
from app.live.metrics import BROADCAST, CONNECTIONS
from app.scoring.board import Board, Entry, iso
from app.scoring.writer import Placement
from app.threads import join

log = logging.getLogger(__name__)

TOP = 10
RETRY_MIN_MS, RETRY_MAX_MS = 500, 5000  # a stopping server's clients come back after this long
MAIN_LABELS = {"board": "main", "period": "all", "period_key": "all"}
YIELD_EVERY = 256  # connections written between yields to the request greenlets
MAX_CAUSES = 32  # changes a broadcast's span links to


class Message:
    """One event; its JSON, its HTML and each wire frame are built once, on first use."""

    __slots__ = ("type", "seq", "payload", "render", "_json", "_html", "_wire")

    def __init__(
        self,
        type_: str,
        seq: int | None,
        data: dict[str, Any] | None = None,
        render: Callable[[], str] | None = None,
    ):
        self.type, self.seq, self.render = type_, seq, render
        self.payload: dict[str, Any] = {"type": type_}
        if data is not None:
            self.payload.update(seq=seq, timestamp=iso(datetime.now(UTC)), data=data)
        self._json: bytes | None = None
        self._html: bytes | None = None
        self._wire: dict[tuple[str, bool], bytes] = {}

    def body(self, html: bool = False) -> bytes:
        """The JSON event, or its HTMX out-of-band fragment."""
        if html and self.render is not None:
            if self._html is None:
                self._html = self.render().encode()
            return self._html
        if self._json is None:
            self._json = orjson.dumps(self.payload)
        return self._json

    def wire(self, transport: str, html: bool) -> bytes:
        """The bytes a connection writes: a WebSocket frame ("ws"), an SSE event ("sse"), or an
        SSE event as a chunk of a chunked HTTP body ("sse-chunk")."""
        key = (transport, html)
        out = self._wire.get(key)
        if out is None:
            if transport == "ws":
                out = ws_text_frame(self.body(html))
            elif transport == "sse":
                out = sse_event(self.type, self.body(html), self.seq)
            else:
                out = http_chunk(self.wire("sse", html))
            self._wire[key] = out
        return out


class Connection:
    """A subscriber; transports implement `deliver` (never blocks the broadcaster)."""

    transport = "raw"
    __slots__ = ("html", "user_id", "last_seq", "around", "last_around")

    def __init__(self, html: bool = False, around: int | None = None):
        self.html = html
        self.user_id: int | None = None
        self.last_seq = -1  # nothing yet: even a seq-0 board is news
        self.around = around  # radius of the player's own neighbourhood to push, if asked for
        self.last_around: Any = None

    def deliver(self, message: Message) -> None:  # pragma: no cover - transports override
        raise NotImplementedError

    def restart(self, retry_ms: int) -> None:
        """Tell the client this server is going away and to come back in `retry_ms` (SPEC §16)."""

    def send(self, message: Message) -> None:
        """Deliver unless the client already has something as new."""
        if message.seq is not None and message.type == "leaderboard_update":
            if message.seq <= self.last_seq:
                return
            self.last_seq = message.seq
        self.deliver(message)


class Hub:
    """Per-process fan-out of board changes to WebSocket and SSE connections."""

    def __init__(
        self,
        board: Board,
        min_interval_ms: int,
        render_board: Callable[[list[Entry], int, int], str] | None = None,
        render_score: Callable[[dict[str, Any]], str] | None = None,
    ):
        self.board = board
        self.min_interval = min_interval_ms / 1000
        self.render_board = render_board
        self.render_score = render_score
        self.connections: set[Connection] = set()
        self._by_user: dict[int, set[Connection]] = {}
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_top: list[tuple[Any, ...]] | None = None
        self._last_entries: list[Entry] = []
        self.current: Message | None = None
        # the stream every event names in `data`: board, period, period_key
        self.labels: Callable[[], dict[str, str]] = lambda: MAIN_LABELS
        # a player's neighbourhood (the leaderboard shape around them), or None if not ranked
        self.read_around: Callable[[int, int], dict[str, Any] | None] = lambda user_id, radius: None
        self._around: set[Connection] = set()
        self.draining = False
        self._causes: list[Any] = []  # the spans of the changes that woke the broadcaster

    # -- connections -------------------------------------------------------------------

    def attach(self, conn: Connection, user_id: int | None = None, snapshot: bool = True) -> None:
        """Register a connection (tied to a player, if any) and send it the current board at once."""
        if conn not in self.connections:
            self.connections.add(conn)
            CONNECTIONS.labels(conn.transport).inc()
        self.bind_user(conn, user_id)
        if self.draining:
            conn.restart(random.randint(RETRY_MIN_MS, RETRY_MAX_MS))
            self.detach(conn)
            return
        self.start()
        current = self.current or self._build(force=True)
        if current is not None:
            if snapshot:
                conn.send(current)
            else:
                conn.last_seq = current.seq or 0
        if conn.around is not None:
            self._around.add(conn)
            self._send_around(conn)

    def current_seq(self) -> int:
        """The seq of the board this process would send now."""
        current = self.current or self._build(force=True)
        return current.seq or 0 if current is not None else 0

    def detach(self, conn: Connection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            CONNECTIONS.labels(conn.transport).dec()
        self._around.discard(conn)
        self.bind_user(conn, None)

    def bind_user(self, conn: Connection, user_id: int | None) -> None:
        """Tie a connection to a player (for personal score updates), or untie it."""
        if conn.user_id is not None:
            peers = self._by_user.get(conn.user_id)
            if peers is not None:
                peers.discard(conn)
                if not peers:
                    del self._by_user[conn.user_id]
        conn.user_id = user_id
        if user_id is not None:
            self._by_user.setdefault(user_id, set()).add(conn)

    # -- events ------------------------------------------------------------------------

    def handle(self, placement: Placement, event: dict[str, Any]) -> None:
        """Tell a scoring player's own connections (the board itself wakes the broadcaster)."""
        user: dict[str, Any] = event.get("user") or {}
        peers = self._by_user.get(user.get("user_id", 0))  # ids start at 1
        if peers and event.get("kind") in ("score", "adjust"):
            data = {
                "user_id": user["user_id"],
                "new_score": user["score"],
                "points_gained": event.get("points", 0),
                "rank": placement.rank,
                "previous_rank": placement.previous_rank,
                **self.labels(),
            }
            render = partial(self.render_score, data) if self.render_score else None
            message = Message("score_update", event.get("seq") or self.board.seq, data, render)
            for conn in list(peers):
                conn.deliver(message)

    def flush(self) -> None:
        """Send the newest board now if it changed, outside the coalescing window (a period's
        final board, right before its viewers move to the next one)."""
        message = self._build()
        if message is not None:
            for conn in list(self.connections):
                conn.send(message)

    def drain(self) -> int:
        """Send every connection elsewhere (this process is stopping), each told to come back
        after its own random delay of 0.5-5 s, so a fleet does not reconnect at once; returns how
        many. Connections that arrive while draining are sent away at once."""
        self.draining = True
        conns = list(self.connections)
        for conn in conns:
            conn.restart(random.randint(RETRY_MIN_MS, RETRY_MAX_MS))
            self.detach(conn)
        return len(conns)

    def wake(self) -> None:
        """Ask the broadcaster to look at the board again (a change, a resync, a rebuild)."""
        cause = tracing.current()
        if cause is not None and len(self._causes) < MAX_CAUSES:
            self._causes.append(cause)
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hub", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            join(self._thread, 5)

    def _run(self) -> None:
        """At most one send per window of `min_interval` (windows aligned to the clock).

        A change in a window that has had its send waits for the next window, together with any
        others (they coalesce). Fixed windows, not "an interval after the previous send": changes
        as frequent as the interval then go out as they come, where spacing sends from the
        previous one made every change inherit the previous one's wait.
        """
        interval = self.min_interval
        sent_in: int | None = None  # the window of the last send
        while not self._stopped.is_set():
            self._wake.wait()
            if self._stopped.is_set():
                return
            now = time.monotonic()
            if sent_in is not None and interval > 0 and int(now // interval) == sent_in:
                if self._stopped.wait((sent_in + 1) * interval - now):
                    return
            self._wake.clear()
            causes, self._causes = self._causes, []
            try:
                message = self._build()
                if message is not None:
                    started = time.monotonic()
                    if interval > 0:
                        sent_in = int(started // interval)
                    self._broadcast(message, causes)
                    BROADCAST.observe(time.monotonic() - started)
                for conn in list(self._around):  # each player's own neighbourhood, if it moved
                    self._send_around(conn)
            except Exception:
                log.exception("live broadcast failed")

    def _broadcast(self, message: Message, causes: list[Any]) -> None:
        """Send one update to every connection."""
        conns = list(self.connections)
        labels = self.labels()
        stream = f"{labels['board']}/{labels['period']}/{labels['period_key']}"
        attributes = {
            "scoreboard.stream": stream,
            "scoreboard.connections": len(conns),
            "scoreboard.seq": message.seq or 0,
        }
        with tracing.caused("broadcast", causes, attributes):
            for i, conn in enumerate(conns, 1):
                conn.send(message)
                if i % YIELD_EVERY == 0:
                    time.sleep(0)  # let requests run during a long fan-out (gevent)

    def _send_around(self, conn: Connection) -> None:
        """Push a player their neighbourhood (`around_update`) when it differs from the last one."""
        if conn.user_id is None or conn.around is None:
            return
        data = self.read_around(conn.user_id, conn.around)
        if data is None or data == conn.last_around:
            return
        conn.last_around = data
        conn.deliver(
            Message("around_update", self.board.seq, {"user_id": conn.user_id, **data, **self.labels()})
        )

    def _build(self, force: bool = False) -> Message | None:
        """The leaderboard_update for the newest state, or None if the top 10 did not change."""
        labels = self.labels()
        page = self.board.page(TOP, 0)
        entries = page.data["leaderboard"]
        key = [
            (labels["period_key"],),
            *((e["user_id"], e["rank"], e["display_name"], e["score"]) for e in entries),
        ]
        if not force and self.current is not None:
            if key == self._last_top or page.seq <= (self.current.seq or 0):
                return None  # unchanged, or not yet counted: clients would drop it
        same_period = self._last_top is not None and self._last_top[0] == key[0]
        changes, changed_ranks = self._diff(self._last_entries if same_period else [], entries)
        data = {
            "leaderboard": entries,
            "changes": changes,
            "changed_ranks": changed_ranks,
            "total_players": page.data["total_players"],
            **labels,
        }
        total = page.data["total_players"]
        seq = page.seq
        render = partial(self.render_board, entries, total, seq) if self.render_board else None
        message = Message("leaderboard_update", page.seq, data, render)
        self._last_top, self._last_entries, self.current = key, entries, message
        return message

    @staticmethod
    def _diff(old: list[Entry], new: list[Entry]) -> tuple[list[dict[str, Any]], list[int]]:
        """Who moved within, into or out of the top 10 (a rank of None: outside it)."""
        before = {e["user_id"]: e for e in old}
        after = {e["user_id"]: e for e in new}
        changes: list[dict[str, Any]] = []
        for uid in [*after, *(u for u in before if u not in after)]:
            a, b = before.get(uid), after.get(uid)
            if (
                a
                and b
                and (a["rank"], a["score"], a["display_name"]) == (b["rank"], b["score"], b["display_name"])
            ):
                continue
            ref = b or a
            assert ref is not None
            changes.append(
                {
                    "user_id": uid,
                    "username": ref["username"],
                    "old_rank": a["rank"] if a else None,
                    "new_rank": b["rank"] if b else None,
                    "score_change": b["score"] - a["score"] if a and b else None,
                }
            )
        ranks = sorted({r for c in changes for r in (c["old_rank"], c["new_rank"]) if r is not None})
        return changes, ranks
