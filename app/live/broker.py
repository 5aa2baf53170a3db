"""Change events between processes: Redis pub/sub, or an in-process twin for the embedded mode."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

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

    def follow(self, channel: str) -> None:
        """Every message reaches this process's listeners already."""

    def publish(self, message: bytes, pipe=None, channel: str | None = None) -> None:  # type: ignore[no-untyped-def]
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
        # this process's own channel: a message there wakes the listener so `stop` need not wait,
        # and so it subscribes to the channels `follow` asks for at once
        self._wake = f"{channel}:wake:{secrets.token_hex(8)}"
        self._channels = {channel.encode()}  # main's, and each followed stream's
        self._pending: list[str] = []
        self._followed = threading.Condition()

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_connect(self, callback: Callable[[], None]) -> None:
        """Run `callback` each time the subscription is (re)established."""
        self._on_connect.append(callback)

    def publish(self, message: bytes, pipe=None, channel: str | None = None) -> None:  # type: ignore[no-untyped-def]
        (pipe or self._redis).publish(channel or self.channel, message)

    def follow(self, channel: str, timeout: float = 2.0) -> None:
        """Receive a stream's channel too (a process follows only the streams it has viewers or
        readers of); returns once subscribed, or after `timeout` (the subscription still comes)."""
        key = channel.encode()
        with self._followed:
            if key in self._channels:
                return
            self._channels.add(key)
            self._pending.append(channel)
        try:
            self._redis.publish(self._wake, b"")  # the listener subscribes between messages
        except RedisError:
            return  # reconnecting: it subscribes to every channel then
        with self._followed:
            self._followed.wait_for(lambda: channel not in self._pending, timeout)

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

    def _subscribe_pending(self, pubsub: Any) -> None:
        with self._followed:
            channels, self._pending = self._pending, []
            pubsub.subscribe(*channels)
            self._followed.notify_all()

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
            with self._followed:
                self._pending.clear()
                channels = [c.decode() for c in self._channels]
                self._followed.notify_all()
            pubsub.subscribe(*channels, self._wake)
            # redis-py reconnects and resubscribes by itself; hear about every (re)connect.
            pubsub.connection.register_connect_callback(self._reconnected)
            self._reconnected()
            while not self._stopped.is_set():
                message = pubsub.get_message(timeout=1.0)
                if self._pending:
                    self._subscribe_pending(pubsub)
                if message is None:
                    pubsub.ping()  # surfaces a dead connection as an error
                    continue
                if message["type"] != "message" or message["channel"] not in self._channels:
                    continue
                for listener in self._listeners:
                    try:
                        listener(message["data"])
                    except Exception:
                        log.exception("live listener failed")
        finally:
            pubsub.close()
