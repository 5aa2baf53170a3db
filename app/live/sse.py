"""Server-sent events: one queue per connection, drained by that connection's response."""

from __future__ import annotations

import queue
from collections.abc import Iterator

from app.live.frames import SSE_COMMENT
from app.live.hub import Connection, Message

MAX_QUEUED = 64  # messages a slow reader may fall behind before it is dropped


class SseConnection(Connection):
    transport = "sse"
    __slots__ = ("queue", "closed")

    def __init__(self, html: bool):
        super().__init__(html)
        self.queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.closed = False

    def deliver(self, message: Message) -> None:
        if self.closed:
            return
        if self.queue.qsize() > MAX_QUEUED:
            self.closed = True
            self.queue.put(None)
            return
        self.queue.put(message.wire("sse", self.html))

    def stream(self, heartbeat: float, retry_ms: int) -> Iterator[bytes]:
        """The response body: a retry hint, then events, with a comment line while idle."""
        yield f"retry: {retry_ms}\n\n".encode()
        while not self.closed:
            try:
                chunk = self.queue.get(timeout=heartbeat)
            except queue.Empty:
                yield SSE_COMMENT
                continue
            if chunk is None:
                return
            yield chunk
