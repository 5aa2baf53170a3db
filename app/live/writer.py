"""Connections written straight to their socket, never blocking the broadcaster.

A write that the socket takes whole (the usual case) is one non-blocking `send` of bytes built
once for every connection. What does not fit waits in this connection's backlog for a writer of
its own (with a timeout); a reader that falls `MAX_BACKLOG` bytes behind is dropped and
reconnects.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections import deque
from typing import Any

from gevent import monkey

from app.live.hub import Connection

log = logging.getLogger(__name__)

MAX_BACKLOG = 256 * 1024  # bytes a slow reader may fall behind before it is dropped
# Under gevent one greenlet runs at a time and a non-blocking send never yields, so a write that
# finds nothing queued or in flight needs no lock; with OS threads (tests, the dev server) it does.
COOPERATIVE = monkey.is_module_patched("socket")
_NO_LOCK = contextlib.nullcontext()


class SocketConnection(Connection):
    """A subscriber with a socket of its own (given now, or later with `use_socket`)."""

    __slots__ = (
        "sock",
        "_raw",
        "_backlog",
        "_backlog_bytes",
        "_lock",
        "_writer",
        "write_timeout",
        "closed",
        "_closing",
    )

    def __init__(self, html: bool, sock: Any = None, write_timeout: float = 10.0):
        super().__init__(html)
        self.sock: Any = None
        self._raw: Any = None
        self._backlog: deque[bytes] | None = None  # made when a write does not fit (rare)
        self._backlog_bytes = 0
        self._lock: Any = _NO_LOCK if COOPERATIVE else threading.Lock()
        self._writer: threading.Thread | None = None
        self.write_timeout = write_timeout
        self.closed = False
        self._closing = False  # a last message is on its way: nothing more, then close
        if sock is not None:
            self.use_socket(sock)

    def use_socket(self, sock: Any) -> None:
        self.sock = sock
        self._raw = getattr(sock, "_sock", sock)  # the OS socket under gevent's wrapper

    def write(self, data: bytes) -> None:
        """Write now if the socket takes it all; else queue the rest for this connection's writer."""
        if self.closed or self._closing:
            return
        with self._lock:
            self._write(data)

    def finish(self, data: bytes) -> None:
        """Write a last message and close once it is out: at once when the socket takes it, else
        after what this reader is behind on (its writer still bounded by `write_timeout`)."""
        if self.closed or self._closing:
            return
        with self._lock:
            self._write(data)
            if self._writer is not None:
                self._closing = True
                return
        self._drop()

    def _write(self, data: bytes) -> None:
        if self._writer is None:  # nothing queued, nothing half-written by the writer
            try:
                sent = self._raw.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._drop()
                return
            if sent == len(data):
                return
            data = data[sent:]
        if self._backlog is None:
            self._backlog = deque()
        self._backlog.append(data)
        self._backlog_bytes += len(data)
        if self._backlog_bytes > MAX_BACKLOG:
            log.info("dropping a %s reader that fell %d bytes behind", self.transport, self._backlog_bytes)
            self._drop()
            return
        if self._writer is None:
            self._writer = threading.Thread(target=self._drain, daemon=True)
            self._writer.start()

    def _drain(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._backlog:
                        self._writer = None
                        if self._closing:
                            self._drop()
                        return
                    data = self._backlog.popleft()
                    self._backlog_bytes -= len(data)
                self.sock.settimeout(self.write_timeout)
                self.sock.sendall(data)
        except OSError:
            with self._lock:
                self._writer = None
            self._drop()

    def _drop(self) -> None:
        self.closed = True
        self._backlog = None
        self._backlog_bytes = 0
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
