"""Change events between processes: Redis pub/sub, or an in-process twin for the embedded mode."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable

from redis.exceptions import RedisError

from app.threads import join

log = logging.getLogger(__name__)

Listener = Callable[[bytes], None]


class InProcessBroker:
    """Delivers each published message to this process's listeners, in the caller's thread."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self.connected = True

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_connect(self, callback: Callable[[], None]) -> None:
        """Nothing to reconnect in one process."""

    def publish(self, message: bytes, pipe=None) -> None:  # type: ignore[no-untyped-def]
        for listener in self._listeners:
            try:
                listener(message)
            except Exception:
                log.exception("live listener failed")

    def start(self) -> None:
        """Nothing to start."""

    def stop(self) -> None:
        """Nothing to stop."""


class RedisBroker:
    """One subscriber thread (a greenlet under gevent) per process, reconnecting with backoff."""

    def __init__(self, redis, channel: str):  # type: ignore[no-untyped-def]
        self._redis = redis
        self.channel = channel
        self._listeners: list[Listener] = []
        self._on_connect: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._callbacks: threading.Thread | None = None
        self.connected = False
        # this process's own channel: a message there wakes the listener so `stop` need not wait
        self._wake = f"{channel}:wake:{secrets.token_hex(8)}"
        self._channel_bytes = channel.encode()

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_connect(self, callback: Callable[[], None]) -> None:
        """Run `callback` each time the subscription is (re)established."""
        self._on_connect.append(callback)

    def publish(self, message: bytes, pipe=None) -> None:  # type: ignore[no-untyped-def]
        (pipe or self._redis).publish(self.channel, message)

    def start(self) -> None:
        """Start the listener once per process."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="broker", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Stop listening (tests, shutdown) and wait for the listener to end."""
        self._stopped.set()
        if self._thread is not None:
            try:
                self._redis.publish(self._wake, b"")
            except RedisError:
                pass  # unreachable: the listener notices within its poll interval
        for thread in (self._thread, self._callbacks):
            join(thread)

    def _reconnected(self, connection: object = None) -> None:
        """Run the on-connect callbacks (resync, index repair) off the listener's path."""
        self.connected = True
        self._callbacks = threading.Thread(target=self._run_callbacks, daemon=True)
        self._callbacks.start()

    def _run_callbacks(self) -> None:
        for callback in self._on_connect:
            for attempt in range(8):  # Redis may still be settling right after a reconnect
                try:
                    callback()
                    break
                except Exception as exc:
                    log.warning("on-connect callback failed (%s); retrying", exc)
                    if self._stopped.wait(0.1 * 2**attempt):
                        return

    def _run(self) -> None:
        delay = 0.1
        while not self._stopped.is_set():
            try:
                self._listen()
                delay = 0.1
            except Exception as exc:  # any failure: log, back off, resubscribe
                self.connected = False
                if self._stopped.is_set():
                    return
                log.warning("broker connection lost (%s); retrying in %.1fs", exc, delay)
                self._stopped.wait(delay)
                delay = min(delay * 2, 5.0)

    def _listen(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel, self._wake)
            # redis-py reconnects and resubscribes by itself; hear about every (re)connect.
            pubsub.connection.register_connect_callback(self._reconnected)
            self._reconnected()
            while not self._stopped.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    pubsub.ping()  # surfaces a dead connection as an error
                    continue
                if message["type"] != "message" or message["channel"] != self._channel_bytes:
                    continue
                for listener in self._listeners:
                    try:
                        listener(message["data"])
                    except Exception:
                        log.exception("live listener failed")
        finally:
            pubsub.close()
