"""WebSocket connections: one pre-built frame per message, written straight to the socket."""

from __future__ import annotations

from typing import Any

from app.live.frames import ws_text_frame
from app.live.hub import Message
from app.live.writer import SocketConnection

PING_FRAME = bytes((0x89, 0))  # an empty ping
SERVICE_RESTART = 1012  # RFC 6455 close code (IANA registry): the server is restarting


class WsConnection(SocketConnection):
    """One browser or API client on /ws/scoreboard."""

    transport = "ws"
    __slots__ = ("ws",)

    def __init__(self, ws: Any, html: bool, write_timeout: float = 10.0):
        super().__init__(html, ws.sock, write_timeout)
        self.ws = ws

    def deliver(self, message: Message) -> None:
        self.write(message.wire("ws", self.html))

    def send_json(self, payload: bytes) -> None:
        self.write(ws_text_frame(payload))

    def ping(self) -> None:
        self.write(PING_FRAME)

    def restart(self, retry_ms: int) -> None:
        """Close with 1012: the client reconnects (after a random delay of its own)."""
        self.finish(close_frame(SERVICE_RESTART, "service restart"))


def close_frame(code: int, reason: str) -> bytes:
    """An unmasked WebSocket close frame (RFC 6455 §5.5.1)."""
    payload = code.to_bytes(2, "big") + reason.encode()[:123]
    return bytes((0x88, len(payload))) + payload
