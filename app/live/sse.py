"""Server-sent events.

Under gunicorn's gevent worker the response takes its socket over once Flask has built the
headers: from then on events are written straight to the socket, like WebSocket frames (one
pre-built chunk for every connection, no greenlet wake per event), and the request's greenlet
only sends heartbeats and notices the client leaving. Elsewhere (the dev server, Flask's test
client) the body is a generator draining a queue.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response

from app.live.frames import SSE_COMMENT, http_chunk
from app.live.hub import Message
from app.live.writer import COOPERATIVE, SocketConnection
from app.telemetry import OWN_HEAD

MAX_QUEUED = 64  # messages a slow reader may fall behind before it is dropped (queue mode)
HEARTBEAT_CHUNK = http_chunk(SSE_COMMENT)
LAST_CHUNK = b"0\r\n\r\n"  # the end of a chunked body


class SseConnection(SocketConnection):
    transport = "sse"
    __slots__ = ("queue",)

    def __init__(self, html: bool):
        super().__init__(html)
        self.queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def deliver(self, message: Message) -> None:
        if self.sock is not None:
            self.write(message.wire("sse-chunk", self.html))
        elif self.closed:
            return
        elif self.queue.qsize() > MAX_QUEUED:
            self.closed = True
            self.queue.put(None)
        else:
            self.queue.put(message.wire("sse", self.html))

    def restart(self, retry_ms: int) -> None:
        """`event: reconnect` with a `retry:` of its own, then the end of the stream: the browser's
        EventSource comes back after `retry_ms`."""
        event = reconnect_event(retry_ms)
        if self.sock is not None:
            self.finish(http_chunk(event) + LAST_CHUNK)
        elif not self.closed:
            self.closed = True
            self.queue.put(event)
            self.queue.put(None)

    def stream(self, heartbeat: float, retry_ms: int) -> Iterator[bytes]:
        """The response body in queue mode: a retry hint, then events, a comment line while idle."""
        yield retry_line(retry_ms)
        while True:
            try:
                chunk = self.queue.get(timeout=heartbeat)
            except queue.Empty:
                if self.closed:
                    return
                yield SSE_COMMENT
                continue
            if chunk is None:
                return
            yield chunk

    def take_over(self, sock: Any, head: bytes, heartbeat: float) -> None:
        """Serve the rest on the socket: the head and what queued meanwhile, then events as they
        come; heartbeats while idle; return when the client goes or the writer drops it."""
        sock.sendall(head)
        pending: list[bytes] = []
        while True:  # no yield from here until use_socket: nothing slips in between
            try:
                chunk = self.queue.get_nowait()
            except queue.Empty:
                break
            if chunk is None:  # ended before it began (a stopping server's goodbye, say): say it all
                sock.sendall(b"".join(http_chunk(c) for c in pending) + LAST_CHUNK)
                return
            pending.append(chunk)
        self.use_socket(sock)
        if pending:
            self.write(b"".join(http_chunk(chunk) for chunk in pending))
        while not self.closed:
            sock.settimeout(heartbeat)
            try:
                if not sock.recv(1024):  # the client closed (it sends nothing else)
                    return
            except TimeoutError:
                self.write(HEARTBEAT_CHUNK)
            except OSError:
                return


def retry_line(retry_ms: int) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


def reconnect_event(retry_ms: int) -> bytes:
    """The goodbye of a stopping server (SPEC §16)."""
    return f'event: reconnect\ndata: {{"retry_ms": {retry_ms}}}\nretry: {retry_ms}\n\n'.encode()


class SseResponse(Response):
    """A text/event-stream response that, under gunicorn + gevent, takes its socket over."""

    def __init__(
        self, conn: SseConnection, heartbeat: float, retry_ms: int, done: Callable[[], None], **kw: Any
    ):
        def body() -> Iterator[bytes]:
            try:
                yield from conn.stream(heartbeat, retry_ms)
            finally:
                done()

        super().__init__(body(), mimetype="text/event-stream", **kw)
        self.conn, self.heartbeat, self.retry_ms, self.done = conn, heartbeat, retry_ms, done

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        sock = environ.get("gunicorn.socket")
        if sock is None or not COOPERATIVE:
            return super().__call__(environ, start_response)
        headers = list(self.headers.items())
        own_head = environ.get(OWN_HEAD)  # the request layer's headers, as start_response adds them
        lines = [
            f"HTTP/1.1 {self.status}",
            *(f"{k}: {v}" for k, v in (own_head(self.status, headers) if own_head else headers)),
            "Transfer-Encoding: chunked",
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + http_chunk(retry_line(self.retry_ms))
        try:
            self.conn.take_over(sock, head, self.heartbeat)
        finally:
            self.done()
        raise StopIteration  # gunicorn: the response was written here; just close the connection
