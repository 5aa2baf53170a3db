"""This process's view of the leaderboard, kept current by change events.

Every ranking change bumps one deployment-wide counter (`seq`) inside its transaction, so seq
order is commit order and has no gaps. A change is published after the rank index includes it;
once this process has seen every seq up to S, the index holds every change up to S, and a page
read then is at least as new as S. Pages are serialised once per seq and served from memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from app.scoring.ranking import Standing

log = logging.getLogger(__name__)

GAP_TIMEOUT = 2.0  # seconds to wait for a missing seq before moving on


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a Z, as the API writes times."""
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@dataclass
class Page:
    seq: int
    body: bytes
    etag: str
    data: dict[str, Any] = field(repr=False)


class Board:
    """Tracks seq and last_updated from events; caches serialised pages per seq."""

    def __init__(
        self,
        read_top: Callable[[int, int], tuple[list[Standing], int]],
        load_names: Callable[[list[int]], dict[int, tuple[str, str]]],
        load_state: Callable[[], tuple[int, datetime | None]],
    ):
        self._read_top = read_top
        self._load_names = load_names
        self._load_state = load_state
        self._names: dict[int, tuple[str, str]] = {}
        self._pages: dict[tuple[int, int], Page] = {}
        self._pending: dict[int, datetime | None] = {}
        self._gap_since = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[int], None]] = []
        self.seq = 0
        self.last_updated: datetime | None = None
        self.loaded = False

    def on_change(self, listener: Callable[[int], None]) -> None:
        """Call `listener(seq)` whenever the board moves on."""
        self._listeners.append(listener)

    def resync(self) -> None:
        """Take seq and last_updated from the database (start-up, after a broker outage)."""
        seq, last_updated = self._load_state()
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
            self._advance()
        self._notify()

    def forget(self, user_id: int) -> None:
        self._names.pop(user_id, None)

    def page(self, limit: int, offset: int) -> Page:
        """The serialised leaderboard page at the newest state this process knows."""
        if not self.loaded:
            self.resync()
        self._check_gap()
        key = (limit, offset)
        page = self._pages.get(key)
        if page is not None and page.seq == self.seq:
            return page
        with self._lock:
            seq, last_updated = self.seq, self.last_updated
        standings, total = self._read_top(limit, offset)
        data = {
            "leaderboard": self.entries(standings),
            "total_players": total,
            "last_updated": iso(last_updated),
            "seq": seq,
        }
        page = Page(seq, orjson.dumps(data), f'"{seq}-{limit}-{offset}"', data)
        with self._lock:
            if seq == self.seq:
                self._pages[key] = page
        return page

    def entries(self, standings: list[Standing]) -> list[dict[str, Any]]:
        """API entries for standings, names from memory (loaded once per player)."""
        missing = [s.user_id for s in standings if s.user_id not in self._names]
        if missing:
            self._names.update(self._load_names(missing))
        out = []
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
        self._gap_since = time.monotonic() if self._pending else 0.0

    def _check_gap(self) -> None:
        if not self._gap_since or time.monotonic() - self._gap_since < GAP_TIMEOUT:
            return
        log.warning("board seq gap after %s not filled; resyncing", self.seq)
        with self._lock:
            self._pending.clear()
            self._gap_since = 0.0
        self.resync()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener(self.seq)
