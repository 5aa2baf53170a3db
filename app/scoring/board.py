"""This process's view of the leaderboard, kept current by change events.

Every ranking change bumps one deployment-wide counter (`seq`) inside its transaction, so seq
order is commit order and has no gaps. A change is published after the rank index includes it;
once this process has seen every seq up to S, the index holds every change up to S, and a page
read then is at least as new as S. Pages are serialised once per seq and served from memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, overload

import orjson

from app.scoring.ranking import Standing
from app.shapes import MaybeTime, TypedDict, closed

log = logging.getLogger(__name__)

GAP_TIMEOUT = 2.0  # seconds to wait for a missing seq before moving on


@overload
def iso(ts: datetime) -> str: ...


@overload
def iso(ts: datetime | None) -> str | None: ...


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a Z, as the API writes times."""
    if ts is None:
        return None
    return ts.isoformat(timespec="milliseconds")[:23] + "Z"  # the fixed-width part, then Z


@closed
class Entry(TypedDict):
    """One line of the board (SPEC §6)."""

    rank: int
    user_id: int
    username: str
    display_name: str
    score: int
    last_updated: MaybeTime


@closed
class Leaderboard(TypedDict):
    """A page of the board: GET /api/v1/leaderboard and /leaderboard/around/{user_id}."""

    leaderboard: list[Entry]
    total_players: int
    last_updated: MaybeTime
    seq: int


@dataclass
class Page:
    seq: int
    body: bytes
    etag: str | None  # None while changes may be missed (Redis away): no 304s then
    data: Leaderboard = field(repr=False)


class Board:
    """Tracks seq and last_updated from events; caches serialised pages per seq."""

    def __init__(
        self,
        read_top: Callable[[int, int], tuple[list[Standing], int]],
        load_names: Callable[[list[int]], dict[int, tuple[str, str]]],
        load_state: Callable[[], tuple[int, datetime | None]],
        is_live: Callable[[], bool] = lambda: True,
    ):
        self._read_top = read_top
        self._load_names = load_names
        self._load_state = load_state
        self._is_live = is_live
        self._gap_timer: threading.Timer | None = None
        self._names: dict[int, tuple[str, str]] = {}
        self._pages: dict[tuple[int, int], Page] = {}
        self._pending: dict[int, datetime | None] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[int], None]] = []
        self.seq = 0
        self.last_updated: datetime | None = None
        self.loaded = False

    def on_change(self, listener: Callable[[int], None]) -> None:
        """Call `listener(seq)` whenever the board moves on."""
        self._listeners.append(listener)

    def resync(self, load: Callable[[], tuple[int, datetime | None]] | None = None) -> None:
        """Take seq and last_updated from the source of truth (start-up, after a broker outage)."""
        seq, last_updated = (load or self._load_state)()
        with self._lock:
            if seq > self.seq:
                self.seq, self.last_updated = seq, last_updated
            self._pending = {s: t for s, t in self._pending.items() if s > self.seq}
            self._pages.clear()
            self.loaded = True
        self._notify()

    def handle(self, event: dict[str, Any]) -> None:
        """Take in one change event from the broker."""
        user = event.get("user")
        if user:
            self._names[user["user_id"]] = (user["username"], user["display_name"])
        seq = event.get("seq")
        if seq is None:
            return
        ts = datetime.fromisoformat(event["ts"]) if event.get("ts") else None
        with self._lock:
            self._pages.clear()
            if seq <= self.seq:
                return
            self._pending[seq] = ts
            if event.get("kind") == "rebuild":  # a fresh start: everything before is in the index
                self._pending = {s: t for s, t in self._pending.items() if s >= seq}
                self.seq = seq - 1
            self._advance()
        self._notify()

    def invalidate(self) -> None:
        """Forget the cached pages (what they show changed without a seq: a period rolled over)."""
        with self._lock:
            self._pages.clear()

    def stop(self) -> None:
        """Cancel a pending gap check (shutdown, tests)."""
        timer = self._gap_timer
        if timer is not None:
            timer.cancel()

    def page(self, limit: int, offset: int) -> Page:
        """The serialised leaderboard page at the newest state this process knows."""
        if not self.loaded:
            self.resync()
        if not self._is_live():  # changes are not reaching us: read fresh every time
            return self._read(limit, offset, self.seq, self.last_updated, etag=False)
        key = (limit, offset)
        page = self._pages.get(key)
        if page is not None and page.seq == self.seq:
            return page
        with self._lock:
            seq, last_updated = self.seq, self.last_updated
        page = self._read(limit, offset, seq, last_updated)
        with self._lock:
            if seq == self.seq:
                self._pages[key] = page
        return page

    def _read(
        self, limit: int, offset: int, seq: int, last_updated: datetime | None, etag: bool = True
    ) -> Page:
        standings, total = self._read_top(limit, offset)
        data: Leaderboard = {
            "leaderboard": self.entries(standings),
            "total_players": total,
            "last_updated": iso(last_updated),
            "seq": seq,
        }
        return Page(seq, orjson.dumps(data), f'"{seq}-{limit}-{offset}"' if etag else None, data)

    def entries(self, standings: list[Standing]) -> list[Entry]:
        """API entries for standings, names from memory (loaded once per player)."""
        missing = [s.user_id for s in standings if s.user_id not in self._names]
        if missing:
            self._names.update(self._load_names(missing))
        out: list[Entry] = []
        for s in standings:
            username, display_name = self._names.get(s.user_id, ("", ""))
            out.append(
                {
                    "rank": s.rank,
                    "user_id": s.user_id,
                    "username": username,
                    "display_name": display_name,
                    "score": s.score,
                    "last_updated": iso(s.updated_at),
                }
            )
        return out

    def _advance(self) -> None:
        while self.seq + 1 in self._pending:
            self.seq += 1
            ts = self._pending.pop(self.seq)
            if ts is not None and (self.last_updated is None or ts > self.last_updated):
                self.last_updated = ts
        if self._pending and self._gap_timer is None:
            self._gap_timer = threading.Timer(GAP_TIMEOUT, self._gap_expired)
            self._gap_timer.daemon = True
            self._gap_timer.start()

    def _gap_expired(self) -> None:
        """A missed message never came (lost publish): move on to the newest state."""
        with self._lock:
            self._gap_timer = None
            if not self._pending:
                return
            log.warning("board seq gap after %s not filled; resyncing", self.seq)
            newest = max(self._pending)
            self.seq = max(self.seq, newest)
            self._pending.clear()
            self._pages.clear()
        self.resync()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener(self.seq)
