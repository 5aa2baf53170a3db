"""Clients for the live endpoints, each collecting what it receives on a thread of its own."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any
from urllib.parse import urlencode

import requests
import websocket

OPEN: list[LiveClient] = []  # closed by a fixture after each test


def close_all() -> None:
    """Close every client still open (before the servers stop, so they need not wait)."""
    while OPEN:
        OPEN.pop().close()


class LiveClient:
    """Collects JSON events from /ws/scoreboard or /events/scoreboard."""

    def __init__(
        self,
        base: str,
        transport: str,
        token: str | None = None,
        deflate: bool = True,
        params: dict[str, str] | None = None,
    ):
        self.base, self.transport = base, transport
        self.messages: list[dict[str, Any]] = []
        self.served_by = ""
        self.closed = threading.Event()
        self.close_code: int | None = None
        self._lock = threading.Lock()
        args = {**({"access_token": token} if token else {}), **(params or {})}
        query = f"?{urlencode(args)}" if args else ""
        if transport == "ws":
            headers = (
                ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"] if deflate else []
            )
            url = base.replace("http://", "ws://") + "/ws/scoreboard" + query
            self.ws = websocket.create_connection(url, header=headers, timeout=10)
            target = self._read_ws
        else:
            self.http = requests.get(f"{base}/events/scoreboard{query}", stream=True, timeout=30)
            self.served_by = self.http.headers.get("X-Served-By", "")
            self._sock = self.http.raw.connection.sock  # to unblock the reader on close
            target = self._read_sse
        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        OPEN.append(self)

    def _add(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.messages.append(message)

    def _read_ws(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                    return
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self._add(json.loads(data))
        except (websocket.WebSocketException, OSError):
            return
        finally:
            self.closed.set()

    def _read_sse(self) -> None:
        data: list[str] = []
        event, buffer = "", b""
        try:
            for chunk in self.http.iter_content(chunk_size=None):  # as it arrives
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in (raw.decode() for raw in lines):
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif line == "" and data:
                        message = json.loads("\n".join(data))
                        message.setdefault("type", event)  # `reconnect` carries only its delay
                        self._add(message)
                        data, event = [], ""
        except (requests.RequestException, OSError, AttributeError, ValueError):
            return  # closed, or cut off mid-chunk when the server stops
        finally:
            self.closed.set()

    def send(self, payload: dict[str, Any]) -> None:
        self.ws.send(json.dumps(payload))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m.get("type") == kind]

    def last_board(self) -> dict[str, Any] | None:
        boards = self.of_type("leaderboard_update")
        return boards[-1] if boards else None

    def wait_for(self, predicate: Any, timeout: float = 15.0) -> dict[str, Any]:
        """The first message matching `predicate`, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for m in self.messages:
                    if predicate(m):
                        return m
            time.sleep(0.01)
        raise AssertionError(f"no matching message on {self.transport}; got {self.messages[-3:]}")

    def close(self) -> None:
        if self.transport == "ws":
            try:
                self.ws.close(timeout=1)
            except (websocket.WebSocketException, OSError):
                pass
            finally:
                self.ws.shutdown()
        else:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.http.close()
        self.thread.join(timeout=5)


def board_of(message: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(rank, user id, score) of a leaderboard_update or a GET /api/v1/leaderboard body."""
    entries = message["data"]["leaderboard"] if "data" in message else message["leaderboard"]
    return [(e["rank"], e["user_id"], e["score"]) for e in entries]
