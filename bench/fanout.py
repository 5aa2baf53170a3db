"""Redis pub/sub fan-in and the broker listener's cost, measured on this machine (docs/scaling.md).

    .venv/bin/python bench/fanout.py                        # all three phases, ~1 minute
    .venv/bin/python bench/fanout.py --only publish --subscribers 0,2,8,32 --seconds 5
    .venv/bin/python bench/fanout.py --only listen --rates 20000 --spread-rates 1000,5000,10000

Starts its own `redis-server` (127.0.0.1, `--port`, default 6390, no RDB, no AOF) and stops it at
the end; nothing else is touched (no PostgreSQL, no app server). Three phases, a few seconds each:

1. **publish**: K subscriber connections (one reader process holding K raw sockets, as K app
   workers each hold one subscription) on the app's main channel (`{ns}:board`); a Lua script
   publishes the app's broker envelope (`encode_envelope` of a real `change_event`) 100 at a time,
   as fast as the subscribers keep up (at most 5,000 messages behind each). Reported: messages
   published and delivered per second, and redis-server CPU per published message and per
   delivery (the difference between K and K = 0 over K).
2. **place**: the app's own placement (`RankIndex.call` + `run_scripts`: the version-guarded
   APPLY_LUA that places a player, counts the seq and PUBLISHes) for random players of an index of
   `--players`, `--batch` calls per pipeline as group commit sends them, with K subscribers.
   Reported: placements/s and redis-server CPU per placement.
3. **listen**: one process as a gunicorn gevent worker is (gevent monkey-patched first) runs the
   app's `RedisBroker` with the listener `build_services` wires (`stream_of`, `decode_envelope`,
   `Board.handle`, `Hub.handle`; one idle viewer attached so the hub runs its 100 ms windows), fed
   `--rates` messages/s for `--seconds` each, batched (one script call per 10 ms: messages arrive
   in bursts), then `--spread-rates` spread (one PUBLISH per message, every millisecond: they
   arrive one by one). Reported: the listener process's CPU per message and whether it kept up.

CPU comes from /proc (utime + stime) over each measured window; `other` is the rest of the
machine in the same window and `load` the load averages (`uptime`) at its start. On a shared
machine compare the CPU per message, not the rates. Figures: bench/README.md, "Redis pub/sub
fan-in"; JSON in bench/out/fanout-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLK_TCK = os.sysconf("SC_CLK_TCK")
NS = "fanout"
CHANNEL = f"{NS}:board"  # the app's main channel: `{REDIS_NAMESPACE}:board`
MAX_BEHIND = 5000  # messages a subscriber may be behind before the publisher waits
MARK = b"*3\r\n$7\r\nmessage\r\n"  # how every pub/sub message starts on the wire (RESP2)

# Publishes `n` envelopes numbered from `first`, the header built as APPLY_LUA builds it.
PUBLISH_LUA = """
local first = tonumber(ARGV[3])
for i = 0, tonumber(ARGV[2]) - 1 do
  redis.call('PUBLISH', ARGV[1], ARGV[4] .. (first + i) .. '|' .. ARGV[5])
end
return 0
"""


# ------------------------------------------------------------------------------------------------
# measuring


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (every core) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def every_process() -> dict[int, tuple[str, float]]:
    """(command name, CPU seconds) of every process on the machine."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                comm = Path(d, "comm").read_text().strip()
            except OSError:
                continue
            out[int(d.name)] = (comm, cpu_seconds(int(d.name)))
    return out


class Window:
    """CPU of some processes, and of the rest of the machine, over one measured window."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.load = os.getloadavg()
        self.others0 = every_process()
        self.t0 = time.monotonic()
        self.busy0 = machine_busy()
        self.cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}

    def stop(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        used = {name: (cpu_seconds(pid) - self.cpu0[name]) for name, pid in self.pids.items()}
        busy = machine_busy() - self.busy0
        cores = {name: round(s / elapsed, 3) for name, s in used.items()}
        cores["other"] = round(max(0.0, busy - sum(used.values())) / elapsed, 3)
        ours = set(self.pids.values())
        others: dict[str, float] = {}
        for pid, (comm, seconds) in every_process().items():
            if pid not in ours:
                before = self.others0.get(pid)
                spent = seconds - (before[1] if before and before[0] == comm else 0.0)
                others[comm] = others.get(comm, 0.0) + spent
        top = sorted(others.items(), key=lambda kv: -kv[1])[:3]
        return {
            "seconds": round(elapsed, 3),
            "cpu_seconds": {k: round(v, 3) for k, v in used.items()},
            "cores": cores,
            "top_others": {comm: round(s / elapsed, 3) for comm, s in top if s > 0},
            "load": [round(x, 2) for x in self.load],
        }


# ------------------------------------------------------------------------------------------------
# the app's own messages


def sample_event(user_id: int, score: int) -> dict[str, Any]:
    """A `change_event` for an accepted action, as the ledger publishes it."""
    from app.scoring.ranking import RankState
    from app.scoring.writer import change_event

    now = datetime.now(UTC)
    state = RankState(user_id, score // 10, True, score, now)
    names = (f"player_{user_id}", f"Player {user_id}")
    return change_event("score", state, names, None, now, points=10)


def envelopes() -> dict[str, Any]:
    """Sizes of the broker envelope (main's stream and a board's period stream)."""
    import orjson

    from app.boards.periods import Period
    from app.boards.stream import Stream
    from app.scoring.writer import Placement, encode_envelope

    event = sample_event(123456, 15230)
    placement = Placement(5, 3, 100000, 1234567)
    main = encode_envelope(placement, event)
    board = encode_envelope(placement, event, Stream("spring-cup", Period.WEEKLY, "2026-W49"))
    every, one = top10_updates()
    return {
        "event_json": len(orjson.dumps(event)),
        "main": len(main),
        "board_period": len(board),
        "leaderboard_update_ws_all_moved": len(every.wire("ws", False)),
        "leaderboard_update_ws_two_swapped": len(one.wire("ws", False)),
        "leaderboard_update_sse_all_moved": len(every.wire("sse-chunk", False)),
    }


def top10_updates() -> tuple[Any, Any]:
    """The `leaderboard_update`s a hub sends for a top 10 of six-digit players (JSON, not HTML):
    the player at rank 10 jumps to rank 1 (every rank changes: the biggest of its kind, as
    bench/live.py drives it), then the new rank 2 passes them (two entries change)."""
    from app.live.hub import Connection, Hub
    from app.scoring.board import Board
    from app.scoring.ranking import Standing

    at = datetime.now(UTC)
    top = [Standing(100_000 + r, 1_000_000 - r * 10, at, r) for r in range(1, 11)]
    tops = [top]
    board = Board(
        lambda limit, offset: (tops[0][offset : offset + limit], 250_000),
        lambda ids: {i: (f"player_{i}", f"Player {i}") for i in ids},
        lambda: (1234567, at),
    )
    hub = Hub(board, 100)
    got: list[Any] = []

    class Keep(Connection):
        def deliver(self, message: Any) -> None:
            got.append(message)

    hub.attach(Keep())  # the snapshot
    jumped = replace(top[9], rank=1, score=top[0].score + 10)
    tops[0] = [jumped, *(replace(s, rank=s.rank + 1) for s in top[:9])]
    board.handle({"kind": "score", "seq": 1234568, "ts": at.isoformat()})
    hub.flush()
    top = tops[0]
    tops[0] = [replace(top[1], rank=1, score=top[0].score + 10), replace(top[0], rank=2), *top[2:]]
    board.handle({"kind": "score", "seq": 1234569, "ts": at.isoformat()})
    hub.flush()
    hub.stop()
    return got[-2], got[-1]


# ------------------------------------------------------------------------------------------------
# redis-server


class Server:
    def __init__(self, port: int, binary: str):
        self.port = port
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:  # never flush somebody else's server
                raise SystemExit(f"port {port} is in use; pick a free one with --port")
        self.dir = tempfile.mkdtemp(prefix="fanout-redis-")
        cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        cmd += ["--dir", self.dir, "--logfile", str(Path(self.dir, "redis.log"))]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        self.client = redis.Redis(port=port)
        for _ in range(100):
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"redis-server on port {port} did not start")
        self.version = self.client.info("server")["redis_version"]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# K raw subscribers in one process (they only count messages: the cheapest possible readers)


def _subscribe(port: int, channel: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    c = channel.encode()
    sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(c), c))
    want = b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n" % (len(c), c)
    got = b""
    while len(got) < len(want):
        got += sock.recv(len(want) - len(got))
    if got != want:
        raise RuntimeError(f"unexpected subscribe answer {got!r}")
    sock.setblocking(False)
    return sock


def reader(port: int, channel: str, k: int, count: Any, ready: Any, stop: Any) -> None:
    socks = [_subscribe(port, channel) for _ in range(k)]
    sel = selectors.DefaultSelector()
    tails: dict[int, bytes] = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        tails[s.fileno()] = b""
    ready.set()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    keep = len(MARK) - 1
    n = 0
    while not stop.is_set():
        for key, _ in sel.select(0.05):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                got = s.recv_into(buf)
            except BlockingIOError:
                continue
            if not got:
                continue
            chunk = tails[s.fileno()] + bytes(view[:got])
            n += chunk.count(MARK)
            tails[s.fileno()] = chunk[-keep:]
        count.value = n
    for s in socks:
        s.close()


class Readers:
    def __init__(self, port: int, k: int, channel: str = CHANNEL):
        self.k = k
        self.count = mp.Value("q", 0, lock=False)
        self.stop_flag = mp.Event()
        ready = mp.Event()
        self.proc = mp.Process(
            target=reader, args=(port, channel, k, self.count, ready, self.stop_flag), daemon=True
        )
        self.proc.start()
        if not ready.wait(30):
            raise RuntimeError("subscribers did not connect")

    @property
    def delivered(self) -> int:
        return int(self.count.value)

    def stop(self) -> None:
        self.stop_flag.set()
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


# ------------------------------------------------------------------------------------------------
# one measured window: send in batches to K subscribers, never more than MAX_BEHIND ahead of them


def measured(
    server: Server, k: int, seconds: float, send: Callable[[int], int]
) -> tuple[int, int, dict[str, Any]]:
    """Call `send(sent so far)` (it returns how many messages it sent) for a 1 s warm-up and then
    `seconds` measured; returns the messages sent and delivered in the window, and its CPU."""
    readers = Readers(server.port, k) if k else None
    pids = {"redis": server.pid, "publisher": os.getpid()}
    if readers is not None:
        pids["subscribers"] = readers.proc.pid
    window: Window | None = None
    sent = s0 = d0 = 0
    t_end = time.monotonic() + 1.0 + seconds
    while True:
        now = time.monotonic()
        if window is None and now >= t_end - seconds:
            s0, d0 = sent, readers.delivered if readers else 0
            window = Window(pids)
        if now >= t_end:
            break
        if readers is not None and sent * k - readers.delivered > MAX_BEHIND * k:
            time.sleep(0.0005)
            continue
        sent += send(sent)
    assert window is not None
    cpu = window.stop()
    delivered = (readers.delivered if readers else 0) - d0
    if readers is not None:
        readers.stop()
    return sent - s0, delivered, cpu


# ------------------------------------------------------------------------------------------------
# phase 1: PUBLISH to K subscribers


def phase_publish(server: Server, ks: list[int], seconds: float) -> list[dict[str, Any]]:
    import orjson

    script = server.client.register_script(PUBLISH_LUA)
    body = orjson.dumps(sample_event(123456, 15230))
    head = b"5|3|100000|"
    batch = 100
    out = []
    for k in ks:

        def publish(sent: int) -> int:
            script(args=[CHANNEL, batch, 1_000_000 + sent, head, body])
            return batch

        pubs, delivered, cpu = measured(server, k, seconds, publish)
        redis_s = cpu["cpu_seconds"]["redis"]
        row = {
            "subscribers": k,
            "published_per_s": round(pubs / cpu["seconds"]),
            "delivered_per_s": round(delivered / cpu["seconds"]),
            "redis_us_per_publish": round(redis_s / pubs * 1e6, 2) if pubs else None,
            "redis_us_per_delivery": round(redis_s / delivered * 1e6, 3) if delivered else None,
            **cpu,
        }
        out.append(row)
        print(
            f"  publish K={k:>3}: {row['published_per_s']:>8,} published/s, {row['delivered_per_s']:>9,}"
            f" delivered/s; redis {cpu['cores']['redis']:.2f} cores = {row['redis_us_per_publish']} µs"
            f" per publish; other {cpu['cores']['other']:.2f} cores; load {cpu['load'][0]}",
            flush=True,
        )
    base = next((r["redis_us_per_publish"] for r in out if r["subscribers"] == 0), None)
    for r in out:
        if base is not None and r["subscribers"] and r["redis_us_per_publish"] is not None:
            above = (r["redis_us_per_publish"] - base) / r["subscribers"]
            r["redis_us_per_delivery_above_k0"] = round(above, 3)
    return out


# ------------------------------------------------------------------------------------------------
# phase 2: the app's placement script, K subscribers


def phase_place(
    server: Server, ks: list[int], seconds: float, players: int, batch: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import orjson

    from app.batch import run_scripts
    from app.scoring.ranking import RankIndex, RankState

    client = server.client
    client.flushdb()
    index = RankIndex(client, NS)
    now = datetime.now(UTC)
    t0 = time.monotonic()
    scores = {uid: random.randrange(0, 100_000) * 10 for uid in range(1, players + 1)}
    versions = dict.fromkeys(scores, 1)
    index.rebuild(RankState(uid, 1, True, s, now) for uid, s in scores.items())
    index.seed_seq(1, now.isoformat())
    seeded = {"players": players, "seconds": round(time.monotonic() - t0, 2)}
    print(f"  place: index of {players:,} players seeded in {seeded['seconds']} s", flush=True)
    out = []
    ids = list(scores)
    for k in ks:

        def place(sent: int) -> int:
            at = datetime.now(UTC)
            calls = []
            for uid in random.sample(ids, batch):
                scores[uid] += 10
                versions[uid] += 1
                state = RankState(uid, versions[uid], True, scores[uid], at)
                event = sample_event(uid, scores[uid])
                calls.append(index.call(state, CHANNEL, orjson.dumps(event), True, event["ts"]))
            bad = [r for r in run_scripts(client, calls) if isinstance(r, BaseException)]
            if bad:
                raise RuntimeError(f"placement failed: {bad[0]!r}")
            return batch

        n, delivered, cpu = measured(server, k, seconds, place)
        redis_s = cpu["cpu_seconds"]["redis"]
        row = {
            "subscribers": k,
            "batch": batch,
            "placements_per_s": round(n / cpu["seconds"]),
            "delivered_per_s": round(delivered / cpu["seconds"]),
            "redis_us_per_placement": round(redis_s / n * 1e6, 2) if n else None,
            "placements_per_redis_core": round(n / redis_s) if redis_s else None,
            **cpu,
        }
        out.append(row)
        print(
            f"  place   K={k:>3}: {row['placements_per_s']:>7,} placements/s (pipelines of {batch});"
            f" redis {cpu['cores']['redis']:.2f} cores = {row['redis_us_per_placement']} µs per"
            f" placement; client {cpu['cores']['publisher']:.2f}; other {cpu['cores']['other']:.2f};"
            f" load {cpu['load'][0]}",
            flush=True,
        )
    client.flushdb()
    return seeded, out


# ------------------------------------------------------------------------------------------------
# phase 3: the app's broker listener in a gevent process


def listener_child(port: int) -> None:
    """Run as a gunicorn gevent worker would: patch first, then the app's listener path."""
    from gevent import monkey

    monkey.patch_all()

    import gevent

    from app.live.broker import RedisBroker
    from app.live.hub import Connection, Hub
    from app.scoring.board import Board
    from app.scoring.ranking import Standing
    from app.scoring.writer import decode_envelope, stream_of
    from app.services import redis_client

    at = datetime.now(UTC)
    top = [Standing(uid, 100_000 - uid, at, uid) for uid in range(1, 11)]
    board = Board(
        lambda limit, offset: (top[offset : offset + limit], 100_000),
        lambda ids: {i: (f"player_{i}", f"Player {i}") for i in ids},
        lambda: (0, None),
    )
    hub = Hub(board, 100)
    board.on_change(lambda seq: hub.wake())
    handled = [0]

    def on_message(message: bytes) -> None:  # as build_services wires it (main's stream)
        tag, message = stream_of(message)
        placement, event = decode_envelope(message)
        board.handle(event)
        hub.handle(placement, event)
        handled[0] += 1

    class Idle(Connection):
        transport = "bench"

        def deliver(self, message: Any) -> None:
            """Holds no socket: the fan-out itself is measured by bench/live.py."""

    broker = RedisBroker(redis_client(f"redis://127.0.0.1:{port}/0"), CHANNEL)
    broker.subscribe(on_message)
    broker.start()
    hub.attach(Idle())
    while not broker.connected:
        gevent.sleep(0.01)
    gevent.sleep(0.2)  # the subscription is in place once connected; let it settle
    print(json.dumps({"ready": True}), flush=True)
    while True:
        gevent.sleep(0.05)
        print(json.dumps({"handled": handled[0], "seq": board.seq}), flush=True)


class Listener:
    def __init__(self, port: int):
        cmd = [sys.executable, __file__, "--listener-child", str(port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT, text=True)
        self.handled = 0
        self.seq = 0
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first or not json.loads(first).get("ready"):
            raise RuntimeError("listener did not start")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            state = json.loads(line)
            self.handled, self.seq = state["handled"], state["seq"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def phase_listen(server: Server, rates: list[int], seconds: float, spread: bool) -> list[dict[str, Any]]:
    """`spread`: each message its own PUBLISH, paced every millisecond (they reach the listener one
    by one, as changes from many writers do); else 100 ticks a second of one script call each
    (messages arrive in bursts and are read many at a time)."""
    import orjson

    script = server.client.register_script(PUBLISH_LUA)
    bodies = [orjson.dumps(sample_event(uid, 10_000 + uid)) for uid in range(1, 1001)]
    head = b"0|0|100000|"
    listener = Listener(server.port)
    out = []
    seq = 1
    tick = 0.001 if spread else 0.01
    mode = "spread" if spread else "batched"
    try:
        for rate in rates:
            per_tick = max(1, round(rate * tick))
            per_call = 1 if spread else per_tick
            start_handled = listener.handled
            pids = {"redis": server.pid, "listener": listener.proc.pid, "publisher": os.getpid()}
            window = Window(pids)
            published = 0
            t0 = time.monotonic()
            next_tick = t0
            while (now := time.monotonic()) < t0 + seconds:
                if now < next_tick:
                    time.sleep(next_tick - now)
                for _ in range(per_tick // per_call):
                    script(args=[CHANNEL, per_call, seq, head, bodies[seq % len(bodies)]])
                    seq += per_call
                    published += per_call
                next_tick += tick
            time.sleep(0.1)  # the last status line
            cpu = window.stop()
            handled = listener.handled - start_handled
            behind = published - handled
            # let it catch up before the next rate (not measured)
            deadline = time.monotonic() + 10
            while listener.handled < seq - 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            listener_s = cpu["cpu_seconds"]["listener"]
            row = {
                "mode": mode,
                "rate": rate,
                "published_per_s": round(published / seconds),
                "handled_per_s": round(handled / seconds),  # the same messages as published
                "behind_at_end": behind,
                "listener_us_per_message": round(listener_s / handled * 1e6, 1) if handled else None,
                "kept_up": behind <= rate * 0.02 + 10,
                "caught_up_after": listener.handled >= seq - 1,
                "seq_reached": listener.seq,
                **cpu,
            }
            out.append(row)
            print(
                f"  listen {mode:>7} {rate:>6,}/s: published {row['published_per_s']:>6,}/s, handled"
                f" {row['handled_per_s']:>6,}/s ({'kept up' if row['kept_up'] else f'{behind:,} behind'});"
                f" listener {cpu['cores']['listener']:.2f} cores = {row['listener_us_per_message']} µs per"
                f" message; redis {cpu['cores']['redis']:.2f}; other {cpu['cores']['other']:.2f};"
                f" load {cpu['load'][0]}",
                flush=True,
            )
            if not row["kept_up"]:
                break  # saturated: higher rates only queue in Redis
    finally:
        listener.stop()
    return out


# ------------------------------------------------------------------------------------------------


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="publish,place,listen", help="phases (default all three)")
    ap.add_argument("--port", type=int, default=6390, help="port of the redis-server started here")
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--seconds", type=float, default=4.0, help="measured seconds per step (default 4)")
    ap.add_argument("--subscribers", type=ints, default=[0, 2, 8, 32], help="K for publish (0,2,8,32)")
    ap.add_argument("--place-subscribers", type=ints, default=[2, 32], help="K for place (2,32)")
    ap.add_argument("--players", type=int, default=100_000, help="players in the rank index (100,000)")
    ap.add_argument("--batch", type=int, default=16, help="placements per pipeline (16)")
    ap.add_argument(
        "--rates", type=ints, default=[2000, 5000, 10000, 20000, 40000], help="messages/s, listen batched"
    )
    ap.add_argument(
        "--spread-rates", type=ints, default=[1000, 5000, 10000], help="messages/s, listen spread"
    )
    ap.add_argument("--listener-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.listener_child:
        listener_child(args.listener_child)
        return 0
    phases = set(args.only.split(","))
    started = datetime.now(UTC)
    server = Server(args.port, args.redis_server)
    result: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "load_at_start": [round(x, 2) for x in os.getloadavg()]},
        "redis_version": server.version,
        "envelope_bytes": envelopes(),
    }
    print(
        f"fanout {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, redis {server.version} on port"
        f" {args.port}; load {result['machine']['load_at_start']}; envelope {result['envelope_bytes']}",
        flush=True,
    )
    try:
        if "publish" in phases:
            result["publish"] = phase_publish(server, args.subscribers, args.seconds)
        if "place" in phases:
            seeded, rows = phase_place(server, args.place_subscribers, args.seconds, args.players, args.batch)
            result["place"] = {"seeded": seeded, "rows": rows}
        if "listen" in phases:
            result["listen"] = phase_listen(server, args.rates, args.seconds, spread=False)
            result["listen"] += phase_listen(server, args.spread_rates, args.seconds, spread=True)
    finally:
        server.stop()
    result["machine"]["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"fanout-{started:%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"load at end {result['machine']['load_at_end']}; JSON: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
