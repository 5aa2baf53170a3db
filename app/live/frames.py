"""Wire formats built once per message and shared by every connection."""

from __future__ import annotations


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked, uncompressed, final WebSocket text frame (server to client, RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 1 << 16:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def sse_event(event: str, data: bytes, event_id: int | None = None) -> bytes:
    """One server-sent event; multi-line data is split into data: lines."""
    lines = [f"event: {event}".encode()]
    if event_id is not None:
        lines.append(f"id: {event_id}".encode())
    lines.extend(b"data: " + line for line in data.split(b"\n"))
    return b"\n".join(lines) + b"\n\n"


SSE_COMMENT = b": heartbeat\n\n"


def http_chunk(data: bytes) -> bytes:
    """One chunk of a chunked HTTP/1.1 body (RFC 9112 §7.1)."""
    return b"%x\r\n%s\r\n" % (len(data), data)
