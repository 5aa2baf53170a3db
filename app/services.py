"""The domain services of one app, wired once: Redis-backed in production, in-process twins
in the embedded mode. Every caller (API, pages, live transports, CLI, tests) uses these."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis as redis_lib
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from app import tracing
from app.admin.activity import Activity
from app.auth.keys import AccessTokens
from app.auth.server import TokenIssuer
from app.boards.periods import Period
from app.boards.registry import BoardRegistry
from app.boards.stream import MAIN_STREAM
from app.boards.streams import Live, Streams
from app.fraud.address import AddressLimit
from app.fraud.limits import RateLimits
from app.fraud.rules import FraudRules, Thresholds
from app.live.broker import InProcessBroker, RedisBroker
from app.live.hub import Hub
from app.live.presence import Presence
from app.models.boards import MAIN
from app.scoring.board import Board
from app.scoring.catalog import ActionCatalog
from app.scoring.ledger import Ledger
from app.scoring.moderation import Moderation
from app.scoring.ranking import RankIndex
from app.scoring.service import Limits, Scorer
from app.scoring.standings import RedisHealth, Standings
from app.scoring.tokens import ActionTokenSigner, MemoryTokenStore, RedisTokenStore, derive_key
from app.scoring.writer import BoardWriter, decode_envelope, start_persisting, stream_of
from app.telemetry import SERVED_BY
from app.threads import join

log = logging.getLogger(__name__)

_NAMES = text("SELECT id, username, display_name FROM users WHERE id IN :ids")


@dataclass
class Services:
    config: Any
    engine: Engine
    redis: Any
    limits: RateLimits
    standings: Standings
    board: Board
    broker: Any
    writer: BoardWriter
    rules: FraudRules
    scorer: Scorer
    moderation: Moderation
    access: AccessTokens
    issuer: TokenIssuer
    catalog: ActionCatalog
    hub: Hub
    address_limit: AddressLimit | None
    presence: Presence
    boards: BoardRegistry
    streams: Streams
    activity: Activity
    draining: bool = False
    _started: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopped: threading.Event = field(default_factory=threading.Event, repr=False)
    _persister: threading.Thread | None = field(default=None, repr=False)
    _flusher: threading.Thread | None = field(default=None, repr=False)

    @property
    def started(self) -> bool:
        return self._started

    def start(self) -> None:
        """Start this process's broker listener and load the board (once, after fork)."""
        if self._started:
            return
        with self._lock:
            if self._started:
                return
            self.access.load()
            with self.engine.connect():
                pass  # fail early if the database is unreachable
            self.broker.start()
            self.board.resync()
            if self.redis is not None:
                persist_streams = self.streams.persist
                self._persister = start_persisting(self.writer, self.board, self._stopped, persist_streams)
                self.presence.start(self._stopped)
                self._flusher = self.activity.start(self._stopped)
            self._started = True

    def drain(self) -> int:
        """This process is stopping (SIGTERM: a redeploy, a restart, a graceful reload): send every
        live connection elsewhere now; requests in flight finish as usual. Returns how many."""
        self.draining = True
        count = sum(live.hub.drain() for live in self.streams.lives())
        log.info("stopping: sent %d live connections elsewhere", count)
        tracing.flush()  # the master kills a worker still busy after GRACEFUL_TIMEOUT
        return count

    def stop(self) -> None:
        """Stop the listener and close connections (tests, shutdown)."""
        self.broker.stop()
        self.hub.stop()
        self.streams.stop()
        if self.address_limit is not None:
            self.address_limit.stop()
        self._stopped.set()
        self.board.stop()
        self.writer.wait()
        if self._persister is not None:
            join(self._persister)
        join(self._flusher)  # its last flush needs the client still open
        if self.redis is not None:
            self.redis.close()


# One retry at once (a pooled connection Redis closed), never redis-py's default backoff: with
# Redis down, each call would otherwise wait about 4 s before the memory twins took over.
REDIS_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 1.0,
    "socket_timeout": 5.0,
    "health_check_interval": 30,
    "retry": Retry(NoBackoff(), 1),
}


def redis_client(url: str) -> redis_lib.Redis:
    """A Redis client with the app's timeouts and retry policy."""
    return redis_lib.Redis.from_url(url, **REDIS_OPTIONS)


def build_services(config: Any, engine: Engine, clock: Callable[[], float] = time.time) -> Services:
    """Wire the services for one app from its configuration (`clock`: the time every rule reads)."""
    ns = config.REDIS_NAMESPACE
    client = redis_client(config.REDIS_URL) if config.REDIS_URL else None
    health = RedisHealth()
    strategy = getattr(config, "RATELIMIT_STRATEGY", "moving-window")
    limits = RateLimits(config.REDIS_URL or "memory://", f"{ns}:limits", strategy, REDIS_OPTIONS)
    index = RankIndex(client, ns) if client is not None else None
    standings = Standings(engine, index, health)
    broker = RedisBroker(client, f"{ns}:board") if client is not None else InProcessBroker()
    writer = BoardWriter(standings, broker, f"{ns}:board")

    def load_names(ids: list[int]) -> dict[int, tuple[str, str]]:
        stmt = _NAMES.bindparams(bindparam("ids", expanding=True))
        with engine.connect() as conn:
            return {r[0]: (r[1], r[2]) for r in conn.execute(stmt, {"ids": ids})}

    board = Board(
        standings.top, load_names, standings.board_state, is_live=lambda: broker.connected and health.up
    )
    hub = Hub(board, config.LIVE_MIN_INTERVAL_MS)
    registry = BoardRegistry(engine, ActionCatalog(config.ACTION_CATALOG))
    main = Live(MAIN, Period.ALL, None, "all", board, hub)
    streams = Streams(
        engine=engine,
        registry=registry,
        redis=client,
        namespace=ns,
        health=health,
        broker=broker,
        channel=f"{ns}:board",
        main=main,
        main_writer=writer,
        load_names=load_names,
        min_interval_ms=config.LIVE_MIN_INTERVAL_MS,
        clock=clock,
    )

    def on_message(message: bytes) -> None:
        tag, message = stream_of(message)
        if tag is not None:
            streams.dispatch(tag, message)
            return
        placement, event = decode_envelope(message)
        board.handle(event)  # first: the hub reads the board
        hub.handle(placement, event)
        streams.on_main_event(event)

    hub.read_around = lambda uid, radius: streams.around(MAIN_STREAM, True, uid, radius)
    broker.subscribe(on_message)

    def on_local(event: dict[str, Any], seq: int) -> None:
        event = {**event, "seq": seq}
        board.handle(event)
        streams.on_main_event(event)

    writer.on_local = on_local
    writer.seen = lambda: board.seq
    broker.on_connect(writer.repair)
    broker.on_connect(lambda: board.resync(standings.redis_state if index is not None else None))
    broker.on_connect(streams.on_connect)
    board.on_change(lambda seq: hub.wake())

    secrets_ = [config.SECRET_KEY, *config.SECRET_KEY_FALLBACKS]
    signer = ActionTokenSigner([derive_key(s, "action-tokens") for s in secrets_], config.ACTION_TOKEN_TTL)
    tokens = RedisTokenStore(client, ns) if client is not None else MemoryTokenStore()
    rules = FraudRules(engine, limits, Thresholds.from_config(config), clock)
    ledger = Ledger(engine, writer, streams)
    moderation = Moderation(ledger, streams, clock)
    catalog = registry.default
    scorer = Scorer(
        engine=engine,
        ledger=ledger,
        catalog=catalog,
        signer=signer,
        tokens=tokens,
        limits=limits,
        policy=Limits.from_config(config),
        writer=writer,
        streams=streams,
        rules=rules,
        unban=lambda uid: _discard(moderation.unban(None, uid)),
        clock=clock,
    )
    access = AccessTokens(engine, secrets_, config.JWT_ISSUER, config.JWT_AUDIENCE, config.ACCESS_TOKEN_TTL)
    issuer = TokenIssuer(access, config.REFRESH_TOKEN_TTL)
    return Services(
        config,
        engine,
        client,
        limits,
        standings,
        board,
        broker,
        writer,
        rules,
        scorer,
        moderation,
        access,
        issuer,
        catalog,
        hub,
        AddressLimit(config.RATELIMIT_API_PER_IP, client, f"{ns}:ip") if config.RATELIMIT_ENABLED else None,
        Presence(client, f"{ns}:live:connections", SERVED_BY, streams.connections),
        registry,
        streams,
        Activity(client, ns, clock),
    )


def _discard(_: object) -> None:
    """Drop a result the caller has no use for."""


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["scoreboard"]
