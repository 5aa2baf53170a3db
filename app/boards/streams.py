"""The boards' streams in one process: their write paths, their live boards and viewers, rollover.

A stream is a (board, period) at one period key (`app.boards.stream`). Each key has its own
write path (`BoardWriter` over its rank index, or the database); each (board, period) has one
`Live`: the seq it has reached, its page cache and its viewers (one `Hub`, one fan-out group),
following the current key. Each (board, period) has its own broker channel, which a process
subscribes to only once it follows the stream; messages name their key, and go to that stream's
`Live` only: a change on one board costs the processes and viewers of every other board nothing.

At a period's end (and ROLLOVER_GRACE after it, so writes stamped before the end are in) every
process holding its `Live` sends the ended period's final board and moves to the new key; one of them
(Redis: whoever sets the rollover marker first) counts the change, so every viewer gets the new,
empty period's board under a new seq within a second of the boundary. The rank index of the
ended key expires an hour later (every placement sets the expiry); its standings stay in the
database, read from there (cached: they are frozen).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine

from app.boards import periods as p
from app.boards.registry import BoardInfo, BoardRegistry
from app.boards.stream import Stream
from app.errors import ScoreboardError
from app.live.hub import Hub
from app.models.boards import MAIN
from app.scoring.board import Board, Entry, Leaderboard, iso
from app.scoring.ranking import DbRanking, RankIndex, Standing
from app.scoring.standings import RedisHealth, Standings
from app.scoring.writer import BoardWriter, decode_envelope

log = logging.getLogger(__name__)

BOARD_TTL = 1.0  # seconds a board's settings are reused on the hot path before reading again
INDEX_GRACE = timedelta(hours=1)  # an ended key's rank index stays this long (late writes)
SETTLED = timedelta(seconds=10)  # a past period's pages are cached once it ended this long ago
PAST_PAGES = 512  # past-period pages kept per process
PAST_TTL = 30.0  # seconds a past-period page is reused (each ban, hide or rename clears them)
STANDING_KINDS = frozenset({"ban", "unban", "hide", "unhide", "rename", "erase"})
# seconds after a period's end before its viewers move on: writes stamped before the end are in,
# and their final board goes out first
ROLLOVER_GRACE = 0.5


@dataclass
class Live:
    """One (board, period) as this process's viewers follow it."""

    board_slug: str
    period: p.Period
    tz: Any
    key: str
    board: Board
    hub: Hub
    timer: threading.Timer | None = field(default=None, repr=False)
    persisted: int = 0  # the newest seq recorded in the database (production)

    @property
    def stream(self) -> Stream:
        return Stream(self.board_slug, self.period, self.key)

    def labels(self) -> dict[str, str]:
        """What every event of this stream carries in `data`."""
        return {"board": self.board_slug, "period": self.period.value, "period_key": self.key}


class Streams:
    """Every stream of this process other than main's all-time one (which `Services` holds)."""

    def __init__(
        self,
        *,
        engine: Engine,
        registry: BoardRegistry,
        redis: Any,
        namespace: str,
        health: RedisHealth,
        broker: Any,
        channel: str,
        main: Live,
        main_writer: BoardWriter,
        load_names: Callable[[list[int]], dict[int, tuple[str, str]]],
        min_interval_ms: int,
        clock: Callable[[], float] = time.time,
    ):
        self.engine = engine
        self.registry = registry
        self.redis = redis
        self.namespace = namespace
        self.health = health
        self.broker = broker
        self.channel = channel
        self.main = main
        self.main_writer = main_writer
        self.load_names = load_names
        self.min_interval_ms = min_interval_ms
        self.clock = clock
        self.render_board: Callable[..., str] | None = None
        self.render_score: Callable[[dict[str, Any]], str] | None = None
        self._writers: dict[Stream, BoardWriter] = {}
        self._lives: dict[str, Live] = {}
        self._boards: dict[str, tuple[float, BoardInfo]] = {}
        self._keys: dict[tuple[Any, ...], tuple[tuple[tuple[str, str], ...], datetime, datetime]] = {}
        self._past: OrderedDict[tuple[Stream, int, int], tuple[float, Leaderboard, str]] = OrderedDict()
        self._lock = threading.RLock()
        self._stopped = False
        registry.on_change.append(self.forget)

    # -- boards --------------------------------------------------------------------------

    def info(self, slug: str) -> BoardInfo:
        """A board's settings, re-read at most every BOARD_TTL seconds.

        :raise ScoreboardError NOT_FOUND: no such board.
        """
        now = time.monotonic()
        cached = self._boards.get(slug)
        if cached is not None and now - cached[0] < BOARD_TTL:
            return cached[1]
        info = self.registry.get(slug)
        self._boards[slug] = (now, info)
        if cached is not None and cached[1].timezone != info.timezone:
            self._retime(info)
        return info

    def _retime(self, info: BoardInfo) -> None:
        """A board's timezone changed: its live periods follow the new zone's keys and ends."""
        tz = p.zone(info.timezone)
        for live in list(self._lives.values()):
            if live.board_slug != info.slug:
                continue
            with self._lock:
                live.tz = tz
                key = p.key_at(live.period, self.now(), tz)
                changed = key != live.key
                if changed:
                    live.hub.flush()
                    live.key = key
                    live.board.invalidate()
                if live.timer is not None:
                    live.timer.cancel()
                self._schedule(live)
            if changed:
                live.hub.wake()

    def forget(self, slug: str) -> None:
        """Read a board's settings afresh now (this process edited them; the others see the edit
        within BOARD_TTL)."""
        if slug in self._boards:
            self._boards[slug] = (float("-inf"), self._boards[slug][1])  # stale: re-read, compare
        try:
            self.info(slug)
        except ScoreboardError:
            pass

    def on_main_event(self, event: dict[str, Any]) -> None:
        """A change on main's stream: a ban, hide or rename changes who ended periods show."""
        if event.get("kind") in STANDING_KINDS:
            with self._lock:
                self._past.clear()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def keys(self, info: BoardInfo, now: datetime) -> tuple[tuple[str, str], ...]:
        """The `board_scores` rows a score change on a board at `now` counts in (worked out once
        per period: they hold until the board's next boundary)."""
        which = (info.slug, info.timezone, info.periods)
        cached = self._keys.get(which)
        if cached is not None and cached[1] <= now < cached[2]:
            return cached[0]
        tz = p.zone(info.timezone)
        keys = tuple(
            (period.value, p.key_at(period, now, tz))
            for period in info.kept
            if not (period is p.Period.ALL and info.slug == MAIN)
        )
        dated = [period for period in info.kept if period is not p.Period.ALL]
        starts = [p.bounds(period, p.key_at(period, now, tz), tz)[0] for period in dated]
        since = max((s for s in starts if s is not None), default=datetime.min.replace(tzinfo=UTC))
        until = p.next_boundary(info.kept, now, tz) or datetime.max.replace(tzinfo=UTC)
        self._keys[which] = (keys, since, until)
        return keys

    def is_current(self, stream: Stream, now: datetime) -> bool:
        if stream.period is p.Period.ALL:
            return True
        try:
            info = self.info(stream.board)
        except ScoreboardError:
            return False
        if stream.period not in info.periods:
            return False
        return p.key_at(stream.period, now, p.zone(info.timezone)) == stream.key

    def stream(self, slug: str, period_name: str | None, at: str | None = None) -> tuple[BoardInfo, Stream]:
        """The stream a client asks for: a board, one of its periods, a period key (default the
        current one).

        :raise ScoreboardError: NOT_FOUND (no such board), INVALID_REQUEST (a period the board
            does not keep, a malformed or future key).
        """
        info = self.info(slug)
        try:
            period = p.parse_period(period_name or "all")
            if period not in info.kept:
                raise p.PeriodError(f"period {period.value!r}: board {slug!r} keeps {', '.join(info.kept)}")
            tz = p.zone(info.timezone)
            key = p.key_at(period, self.now(), tz) if at is None else p.parse_key(period, at)
            if p.state(period, key, self.now(), tz) is p.PeriodState.FUTURE:
                raise p.PeriodError(f"at {key!r}: that period has not begun")
        except p.PeriodError as exc:
            raise ScoreboardError("INVALID_REQUEST", str(exc)) from None
        return info, Stream(slug, period, key)

    def window(self, info: BoardInfo, stream: Stream) -> p.Window:
        return p.window(stream.period, stream.key, p.zone(info.timezone))

    # -- writing -------------------------------------------------------------------------

    def writer(self, stream: Stream) -> BoardWriter:
        """The write path of one stream at one key (created on first use)."""
        if stream.is_main:
            return self.main_writer
        writer = self._writers.get(stream)
        if writer is not None:
            return writer
        with self._lock:
            writer = self._writers.get(stream)
            if writer is None:
                index = None
                if self.redis is not None:
                    placer = self.main_writer.standings.index.placer  # type: ignore[union-attr]
                    index = RankIndex(self.redis, self.namespace, stream, self._expiry(stream), placer)
                standings = Standings(self.engine, index, self.health, stream)
                writer = BoardWriter(standings, self.broker, self.channel_of(stream))
                writer.on_local = partial(self._local, stream)
                writer.seen = partial(self._seen, stream)
                self._writers[stream] = writer
        return writer

    def channel_of(self, stream: Stream) -> str:
        """The broker channel of a (board, period): only processes that follow it hear of it."""
        return f"{self.channel}:{stream.name}"

    def _expiry(self, stream: Stream) -> datetime | None:
        """When a key's rank index may go: an hour after its period ends (None: all-time)."""
        if stream.period is p.Period.ALL:
            return None
        ends = p.bounds(stream.period, stream.key, p.zone(self.info(stream.board).timezone))[1]
        return ends + INDEX_GRACE if ends is not None else None

    def _seen(self, stream: Stream) -> int:
        live = self._lives.get(stream.name)
        return live.board.seq if live is not None else 0

    def _local(self, stream: Stream, event: dict[str, Any], seq: int) -> None:
        live = self._lives.get(stream.name)
        if live is not None and live.key == stream.key:
            live.board.handle({**event, "seq": seq})

    # -- reading -------------------------------------------------------------------------

    def standings(self, stream: Stream) -> Standings:
        """Where a current stream's ranks come from: its rank index, else the database."""
        return self.writer(stream).standings

    def rank(self, stream: Stream, current: bool, user_id: int) -> tuple[Standing | None, int]:
        if current:
            return self.standings(stream).rank(user_id)
        with self.engine.connect() as conn:  # an ended period: the database, nothing kept per key
            return DbRanking(stream).rank(conn, user_id)

    def top(self, stream: Stream, current: bool, limit: int, offset: int) -> tuple[list[Standing], int]:
        if current:
            return self.standings(stream).top(limit, offset)
        with self.engine.connect() as conn:
            return DbRanking(stream).top(conn, limit, offset)

    def around(self, stream: Stream, current: bool, user_id: int, radius: int) -> dict[str, Any] | None:
        """The players ranked around one (`radius` each side): the leaderboard's entries and
        total, or None if the player is not ranked in the stream. Two reads of the rank index."""
        standing, _ = self.rank(stream, current, user_id)
        if standing is None:
            return None
        start = max(standing.rank - 1 - radius, 0)
        rows, total = self.top(stream, current, standing.rank - start + radius, start)
        return {"leaderboard": self.entries(stream, rows), "total_players": total}

    def score_of(self, stream: Stream, user_id: int) -> int:
        """A player's score in a stream, shown or not (a hidden player still sees their own)."""
        with self.engine.connect() as conn:
            found = DbRanking(stream).state_of(conn, user_id)
        return found[0].score if found else 0

    def newest(self, stream: Stream) -> datetime | None:
        """When the latest ranked player of an ended period reached their score."""
        with self.engine.connect() as conn:
            return DbRanking(stream).newest(conn)

    def past_page(self, info: BoardInfo, stream: Stream, limit: int, offset: int) -> tuple[Leaderboard, str]:
        """An ended period's final standings (seq 0) and their ETag, which names the content: the
        scores never change, but a ban or a hide still takes a player off (they apply to every
        board): a page is kept until one (`on_main_event`) or for PAST_TTL seconds, once the
        period ended SETTLED ago."""
        cache_key = (stream, limit, offset)
        cached = self._past.get(cache_key)
        if cached is not None and time.monotonic() - cached[0] < PAST_TTL:
            return cached[1], cached[2]
        rows, total = self.top(stream, False, limit, offset)
        page: Leaderboard = {
            "leaderboard": self.entries(stream, rows),
            "total_players": total,
            "last_updated": iso(self.newest(stream)),
            "seq": 0,
        }
        digest = hashlib.blake2s(orjson.dumps(page), digest_size=8).hexdigest()
        etag = f'"{stream.key}-{digest}-{limit}-{offset}"'
        ends = self.window(info, stream).ends_at
        if ends is not None and ends + SETTLED <= self.now():
            with self._lock:
                self._past[cache_key] = (time.monotonic(), page, etag)
                self._past.move_to_end(cache_key)
                while len(self._past) > PAST_PAGES:
                    self._past.popitem(last=False)
        return page, etag

    def entries(self, stream: Stream, standings: list[Standing]) -> list[Entry]:
        return self.live(stream.board, stream.period).board.entries(standings)

    # -- live ----------------------------------------------------------------------------

    def live(self, slug: str, period: p.Period) -> Live:
        """This process's live board and viewers of a (board, period), created on first use.

        :raise ScoreboardError NOT_FOUND: no such board.
        """
        if slug == MAIN and period is p.Period.ALL:
            return self.main
        name = f"{slug}/{period.value}"
        live = self._lives.get(name)
        if live is not None:
            return live
        info = self.info(slug)
        with self._lock:
            live = self._lives.get(name)
            if live is None:
                live = self._make_live(info, period)
                self._lives[name] = live
        return live

    def _make_live(self, info: BoardInfo, period: p.Period) -> Live:
        tz = p.zone(info.timezone)
        key = p.key_at(period, self.now(), tz)
        holder: list[Live] = []

        def read_top(limit: int, offset: int) -> tuple[list[Standing], int]:
            return self.standings(holder[0].stream).top(limit, offset)

        def load_state() -> tuple[int, datetime | None]:
            return self.standings(holder[0].stream).board_state()

        def is_live() -> bool:
            return bool(self.broker.connected) and self.health.up

        board = Board(read_top, self.load_names, load_state, is_live=is_live)
        hub = Hub(board, self.min_interval_ms, self.render_board, self.render_score)
        live = Live(info.slug, period, tz, key, board, hub)
        holder.append(live)
        hub.labels = live.labels
        hub.read_around = lambda uid, radius: self.around(live.stream, True, uid, radius)
        board.on_change(lambda seq: hub.wake())
        self.broker.follow(self.channel_of(live.stream))  # before reading the state: no gap
        board.resync()
        self._schedule(live)
        return live

    def lives(self) -> list[Live]:
        return [self.main, *self._lives.values()]

    def connections(self) -> int:
        """Live connections in this process, on every stream."""
        return sum(len(live.hub.connections) for live in self.lives())

    def dispatch(self, tag: str, message: bytes) -> None:
        """A broker message for a stream other than main's all-time one."""
        stream = Stream.from_tag(tag)
        live = self._lives.get(stream.name)
        if live is None:
            return  # nobody here follows it
        placement, event = decode_envelope(message)
        if stream.key > live.key and stream.key == p.key_at(live.period, self.now(), live.tz):
            self._roll(live, stream.key)  # the period rolled over elsewhere first
        live.board.handle(event)
        if stream.key == live.key:
            live.hub.handle(placement, event)

    def on_connect(self) -> None:
        """The broker (re)connected: repair every current index this process wrote to, and take
        each followed stream's seq again."""
        for writer in list(self._writers.values()):  # every key written here, watched or not
            if self.is_current(writer.stream, self.now()):
                writer.repair()
        for live in list(self._lives.values()):
            standings = self.writer(live.stream).standings
            live.board.resync(standings.redis_state if standings.index is not None else None)

    # -- rollover ------------------------------------------------------------------------

    def _schedule(self, live: Live) -> None:
        if live.period is p.Period.ALL or self._stopped:
            return
        ends = p.window(live.period, live.key, live.tz).ends_at
        assert ends is not None
        delay = max((ends - self.now()).total_seconds(), 0.0) + ROLLOVER_GRACE
        live.timer = threading.Timer(delay, self._boundary, (live,))
        live.timer.daemon = True
        live.timer.start()

    def _boundary(self, live: Live) -> None:
        try:
            self.roll_over(live)
        except Exception:
            log.exception("rollover of %s failed", live.stream.name)
        finally:
            self._schedule(live)

    def roll_over(self, live: Live) -> bool:
        """If a period of `live` has ended, move it to the new key and count the change."""
        key = p.key_at(live.period, self.now(), live.tz)
        if key <= live.key:
            return False
        old = live.stream
        self._roll(live, key)
        self._announce(old, live.stream)
        return True

    def _roll(self, live: Live, key: str) -> None:
        """Send the ended period's final board, then follow the new key."""
        with self._lock:
            if key <= live.key:
                return
            live.hub.flush()
            live.key = key
            live.board.invalidate()
        live.hub.wake()

    def _announce(self, old: Stream, new: Stream) -> None:
        """Count the rollover once for the deployment (Redis: the first process to mark it)."""
        writer = self.writer(new)
        index = writer.standings.index
        if index is None:
            writer.announce("rollover")
            return
        try:
            if index.redis.set(f"{index.zset}:rolled", 1, nx=True, ex=int(INDEX_GRACE.total_seconds())):
                writer.rebuild(force=True)  # the new key's index, marked ready; announced
        except RedisError as exc:
            self.health.failed(exc)

    def stop(self) -> None:
        self._stopped = True
        for live in list(self._lives.values()):
            if live.timer is not None:
                live.timer.cancel()
            live.hub.stop()
            live.board.stop()
        for writer in list(self._writers.values()):
            writer.wait()

    def persist(self) -> None:
        """Record each stream's newest seq in the database (production; see `start_persisting`)."""
        for live in list(self._lives.values()):
            seq = live.board.seq
            if seq > live.persisted:
                self.writer(live.stream).persist(seq, live.board.last_updated)
                live.persisted = seq
