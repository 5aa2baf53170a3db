"""SSE on a real gunicorn (SPEC §7): the stream's framing, snapshot, Last-Event-ID, heartbeats,
and connections counted until the client leaves. Both run modes, one worker each."""

from __future__ import annotations

import re
import threading

import pytest
import requests

from tests.integration.conftest import Gunicorn, wait_until
from tests.integration.test_live import register, score


class RawSse:
    """Every line of an event stream as it arrives (comments, ids and data alike)."""

    def __init__(self, base: str, headers: dict[str, str] | None = None):
        self.response = requests.get(f"{base}/events/scoreboard", headers=headers, stream=True, timeout=30)
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buffer = b""
        try:
            for chunk in self.response.iter_content(chunk_size=None):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                self.lines += [line.decode() for line in lines]
        except (requests.RequestException, OSError, AttributeError, ValueError):
            return  # closed, or cut off mid-chunk when the server stops

    def close(self) -> None:
        self.response.close()


@pytest.fixture(params=["embedded", "production"])
def one_worker(request: pytest.FixtureRequest) -> Gunicorn:
    if request.param == "embedded":
        return request.getfixturevalue("embedded_host")(SSE_HEARTBEAT_INTERVAL="1")
    return request.getfixturevalue("hosts")(1, workers=1, SSE_HEARTBEAT_INTERVAL="1")[0]


def open_sse(base: str) -> int:
    text = requests.get(f"{base}/metrics", timeout=10).text
    found = re.search(r'^scoreboard_live_connections\{transport="sse"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def test_sse_stream_snapshot_last_event_id_heartbeats_and_goodbye(one_worker: Gunicorn) -> None:
    base = one_worker.url
    _, token = register(base, "ann")
    score(base, token)
    seq = requests.get(f"{base}/api/v1/leaderboard", timeout=10).json()["seq"]

    fresh = RawSse(base)
    assert fresh.response.headers["Content-Type"].startswith("text/event-stream")
    assert fresh.response.headers["X-Content-Type-Options"] == "nosniff"
    assert fresh.response.headers["Cache-Control"] == "no-cache"
    wait_until(lambda: ": heartbeat" in fresh.lines, what="a heartbeat", explain=lambda: fresh.lines)
    first = fresh.lines[: fresh.lines.index(": heartbeat")]
    assert first[:4] == ["retry: 5000", "", "event: leaderboard_update", f"id: {seq}"]
    assert '"username":"ann"' in first[4]

    caught_up = RawSse(base, {"Last-Event-ID": str(seq)})  # has this seq: no snapshot
    behind = RawSse(base, {"Last-Event-ID": str(seq - 1)})  # missed one: snapshot
    wait_until(lambda: ": heartbeat" in caught_up.lines and ": heartbeat" in behind.lines, what="heartbeats")
    assert "event: leaderboard_update" not in caught_up.lines
    assert f"id: {seq}" in behind.lines
    wait_until(lambda: open_sse(base) == 3, what="3 open SSE connections", explain=lambda: open_sse(base))

    _, bob_token = register(base, "bob")
    score(base, bob_token, times=2)  # bob takes the lead: everyone connected hears it
    for stream in (fresh, caught_up, behind):
        wait_until(lambda s=stream: any('"username":"bob"' in line for line in s.lines), what="bob's update")

    for stream in (caught_up, behind):
        stream.close()
    wait_until(lambda: open_sse(base) == 1, what="the server letting go of closed streams")
    fresh.close()
