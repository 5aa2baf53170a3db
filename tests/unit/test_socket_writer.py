"""A connection's last message (WebSocket 1012, SSE `reconnect`) reaches a reader that is behind:
the socket closes after what was queued for it and the goodbye, never before."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from app.live.frames import http_chunk
from app.live.hub import Message
from app.live.sse import LAST_CHUNK, SseConnection, reconnect_event
from app.live.writer import SocketConnection

Pair = tuple[socket.socket, socket.socket]


class Raw(SocketConnection):
    transport = "ws"

    def deliver(self, message: Message) -> None:
        raise NotImplementedError


@pytest.fixture
def pair() -> Iterator[Pair]:
    server, reader = socket.socketpair()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    yield server, reader
    server.close()
    reader.close()


def read_all(reader: socket.socket) -> bytes:
    reader.settimeout(10)
    got = b""
    while chunk := reader.recv(65536):
        got += chunk
    return got


def test_a_goodbye_waits_for_what_a_slow_reader_is_behind_on(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, reader = pair
    conn = Raw(html=False, sock=server)
    updates = [bytes([65 + i]) * 10_000 for i in range(5)]  # far more than the socket takes now
    for update in updates:
        conn.write(update)
    assert conn._writer is not None, "the reader is behind: the rest waits for its writer"
    conn.finish(b"GOODBYE")
    conn.write(b"too late")  # nothing after the goodbye
    assert read_all(reader) == b"".join(updates) + b"GOODBYE"  # then the end of the stream
    assert conn.closed


def test_a_goodbye_to_a_reader_that_keeps_up_closes_at_once(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, reader = pair
    conn = Raw(html=False, sock=server)
    conn.write(b"update")
    conn.finish(b"GOODBYE")
    assert conn.closed
    assert read_all(reader) == b"updateGOODBYE"


def test_a_stream_sent_away_before_it_began_still_says_goodbye(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """A stopping server sends an SSE viewer that arrived meanwhile away before its response
    took the socket over: the head, then the `reconnect` event, then the end of the body."""
    server, reader = pair
    conn = SseConnection(html=False)
    conn.restart(1234)
    conn.take_over(server, b"HEAD\r\n\r\n", heartbeat=5)
    server.shutdown(socket.SHUT_WR)
    assert read_all(reader) == b"HEAD\r\n\r\n" + http_chunk(reconnect_event(1234)) + LAST_CHUNK
