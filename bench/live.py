"""Live-update benchmark (SPEC §7, §12): WebSocket and SSE viewers, commit-to-receipt latency.

    .venv/bin/python bench/live.py                                  # ws+sse at 1000 and 5000, 30 s
    .venv/bin/python bench/live.py --viewers 10000 --transport ws --socketio sioraw --sio-deflate off
    .venv/bin/python bench/live.py --viewers 5000 --transport ws --profile 15 --client-procs 2
    .venv/bin/python bench/live.py --viewers 200 --duration 5                  # smoke test
    .venv/bin/python bench/live.py --boards 5 --duration 25 --board-rounds 2   # several boards (SPEC §14)
    .venv/bin/python bench/live.py --restart          # every worker restarted under 2,000 viewers (SPEC §16)

See bench/live_README.md for the method and the latest figures.

One command, stops by itself, kills everything it started (also on errors and Ctrl-C). For each
(transport, N) phase, against 127.0.0.1 on this machine:

  1. a fresh PostgreSQL database (`livebench`), `flask db upgrade`, Redis DB 13 namespace
     `livebench` cleared; once per run. ~30 players registered and ranked through the API;
  2. the app in production mode, started fresh for every phase (so the memory figures are clean):
     gunicorn -c gunicorn.conf.py wsgi:app, 2 gevent workers, limits raised so the driver is
     never refused, ulimit -n raised for the server and the clients;
  3. N viewers in one Node event loop (bench/live/client.mjs): `ws` offering permessage-deflate
     as browsers do (the server declines it), or SSE over node:http; every leaderboard_update
     is recorded per connection as (seq, receive time);
  4. the server's RSS (sum over the gunicorn workers, from /proc) before and after the N idle
     viewers connected → KB per idle connection; connections held, and how they spread over
     the workers;
  5. `--rate` board changes a second for `--duration` seconds through the real API: one chain of
     POST /api/v1/scores (each answer carries the next action token), always for a player whose
     +10 changes the top 10 (a player from outside it who now enters, else the player at rank 10,
     who jumps up: every rank of the top 10 changes), so every change is broadcast;
  6. latency of every change on every connection, and whether every client ended on the final
     state (its last seq == the seq of the final GET /api/v1/leaderboard), CPU of the server,
     the client and the rest of the machine over the driving window.

What the latency is. The driver is the only writer and is serial, so after the 200 of submit i
the board's seq (read from board_state in PostgreSQL) is exactly the seq S_i that submit
committed. For each connection, the change is visible at the receive time of the first
leaderboard_update with seq >= S_i (updates are coalesced: at most one per 100 ms per worker,
always ending on the newest state, so a later seq carries change i too). Reported:

  latency            receive − time the 200 of the submit arrived (the commit happened before the
                     200 was written, so this slightly understates commit-to-receipt; a
                     broadcast that beats the 200 to the client shows as a negative number);
  latency_from_send  receive − time the submit request was sent (an upper bound: includes the
                     whole request);
  latency_from_event receive − time the player's own score_update reached the driver. The hub
                     sends score_update at once (no coalescing), so this isolates what the
                     leaderboard_update's own path adds: coalescing and fan-out.

Both clocks are CLOCK_MONOTONIC (Python's time.monotonic(), Node's process.hrtime).

Floor (`--floor on`, the default): bench/live/floor.mjs, a bare Node `ws` server (one process,
no database, no Redis, no coalescing) broadcasting the same message bytes to the same viewers,
latency from the start of each broadcast: what this machine allows any server.

Baseline (`--socketio`): bench/live_socketio_app.py, Flask-SocketIO in a scratch venv
(/tmp/sio-venv, never the project's), under gunicorn's gevent worker, WebSocket transport only,
2 workers fed by Flask-SocketIO's Redis message queue (the documented multi-process setup and the
analogue of the app's Redis pub/sub), the same JSON message (a real leaderboard_update captured
from the app in this run) emitted `--rate` times a second by a separate process through the
queue. "Commit" there is the emit call returning, which is kinder to the baseline: no database,
no rank index. Viewers offer permessage-deflate as browsers do; simple-websocket accepts it, so
the baseline compresses every message once per connection. `sio` uses the official
socket.io-client; `sioraw` speaks engine.io over the same `ws` client as the `ws` phase, so the
client's own work is identical and only the server differs.

Restarts (`--restart`, SPEC §16): N viewers (half WebSocket, half SSE) that come back as
static/app.js does (close 1012: a random 0.5-5 s; SSE `reconnect`: its retry_ms; anything else:
backoff with jitter); a steady window of changes, then `kill -HUP` to the gunicorn master (every
worker replaced) and as long again; how long each viewer was away and behind, the server's CPU
per second, failed submits, against the steady window of the same run.

Results: a table on stdout, everything as JSON in bench/out/live-<time>.json, server logs beside.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import math
import os
import queue
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness import CHILDREN, create_boards, free_port, json_request, log, on_signal, recreate_db, tail

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
NODE_DIR = BENCH / "live"
OUT = BENCH / "out"
VENV_BIN = ROOT / ".venv" / "bin"
SIO_VENV = Path(os.environ.get("SIO_VENV", "/tmp/sio-venv"))  # noqa: S108 (a scratch venv)
SIO_PACKAGES = ["flask-socketio", "gevent", "gunicorn", "packaging", "simple-websocket", "redis"]
PG = "postgresql://postgres@127.0.0.1:5432"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
RAISED = "1000000/minute"
NOFILE = 200_000
PER_SOURCE_IP = 20_000  # connections per loopback source address (ephemeral range ~28k)
# gunicorn >= 25.1 opens a control socket at one shared path (~/.gunicorn/gunicorn.ctl): every new
# master takes it over, and a `gunicornc shutdown` meant for another gunicorn on this machine would
# stop ours (it did, mid-run). Ours answer to signals only.
NO_CTL = ["--no-control-socket"]

# ------------------------------------------------------------------------------------------------
# child processes: each in its own session, all killed on exit, error or Ctrl-C


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 900, cwd: Path = ROOT) -> str:
    proc = CHILDREN.start(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        CHILDREN.stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}\n{(out or '')[-4000:]}")
    return out


def proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on


def children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            st = proc_stat(int(d.name))
            if st and int(st[1]) == pid:
                out.append(int(d.name))
    return sorted(out)


def ancestors(pid: int) -> list[int]:
    """The process and its parents, up to init."""
    found = []
    while pid > 1:
        found.append(pid)
        st = proc_stat(pid)
        if not st:
            break
        pid = int(st[1])
    return found


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        found += kids
        todo += kids
    return found


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """utime + stime; with `reaped`, also what the children it has waited for used (cutime + cstime)."""
    st = proc_stat(pid)
    if not st:
        return 0.0
    ticks = int(st[11]) + int(st[12]) + (int(st[13]) + int(st[14]) if reaped else 0)
    return ticks / CLK_TCK


def process_tree(leader: int) -> list[int]:
    """The leader and every process below it, from one pass over /proc."""
    kids: dict[int, list[int]] = collections.defaultdict(list)
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            st = proc_stat(int(d.name))
            if st:
                kids[int(st[1])].append(int(d.name))
    found, todo = [], [leader]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += kids.get(pid, [])
    return found


def tree_cpu_seconds(leader: int) -> tuple[float, list[int]]:
    """CPU of a process tree whose leader reaps the rest (a gunicorn master and its workers): the
    leader with its reaped children, plus the live ones. A worker that exits still counts, through
    the master's cutime once it is reaped. Also the tree's pids."""
    members = process_tree(leader)
    return sum(cpu_seconds(p, reaped=p == leader) for p in members), members


def rss_kb(pid: int) -> int:
    st = proc_stat(pid)
    return int(st[21]) * PAGE_KB if st else 0


def socket_fds(pid: int) -> int:
    n = 0
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(fd.path).startswith("socket:"):
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def pids_named(comm: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if Path(d, "comm").read_text().strip() == comm:
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def redis_pid() -> int | None:
    for pid in pids_named("redis-server"):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_text()
        except OSError:
            continue
        if f":{REDIS_PORT}" in cmdline:
            return pid
    return None


def system_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def tcp_mem_kb() -> int:
    """Kernel memory in TCP socket buffers (all sockets on the machine), from /proc/net/sockstat."""
    m = re.search(r"TCP:.* mem (\d+)", Path("/proc/net/sockstat").read_text())
    return int(m.group(1)) * PAGE_KB if m else 0


class CpuWindow:
    """CPU seconds of named process groups between start() and stop().

    A group is a list of pids or a function returning the pids (PostgreSQL backends come and go):
    a pid alive at both ends counts its difference, one born in between counts all it used.
    `trees` (name → leader pid): process trees whose members change meanwhile (gunicorn replacing
    its workers, `--restart`), counted whole by `tree_cpu_seconds`, exited workers included.
    """

    def __init__(self, groups: dict[str, Any], trees: dict[str, int] | None = None):
        self.groups = groups
        self.trees = trees or {}
        self.members: set[int] = set()  # every pid seen in a tree: ours, not "others"

    def _pids(self, name: str) -> list[int]:
        g = self.groups[name]
        return list(g() if callable(g) else g)

    def _sample(self) -> dict[str, dict[int, float]]:
        out = {name: {p: cpu_seconds(p) for p in self._pids(name)} for name in self.groups}
        for name, leader in self.trees.items():
            total, members = tree_cpu_seconds(leader)
            self.members.update(members)
            out[name] = {leader: total}
        return out

    @staticmethod
    def _everyone() -> dict[int, tuple[str, float]]:
        out = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                st = proc_stat(int(d.name))
                if st:
                    try:
                        comm = Path(d, "comm").read_text().strip()
                    except OSError:
                        comm = "?"
                    out[int(d.name)] = (comm, (int(st[11]) + int(st[12])) / CLK_TCK)
        return out

    def start(self) -> None:
        self.all0 = self._everyone()
        self.t0, self.c0, self.s0 = time.monotonic(), self._sample(), system_cpu()

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self.t0
        c1, s1 = self._sample(), system_cpu()
        out: dict[str, Any] = {"wall_s": round(wall, 2)}
        for name, now in c1.items():
            used = sum(v - self.c0[name].get(p, 0.0) for p, v in now.items() if v > 0)
            out[f"{name}_cores"] = round(used / wall, 3)  # 1.0 = one core busy
        busy, total = s1[0] - self.s0[0], s1[1] - self.s0[1]
        out["machine_busy_pct"] = round(100 * busy / total, 1) if total else None
        out["machine_cores"] = os.cpu_count()
        ours = (
            {p for now in c1.values() for p in now}
            | {p for c in self.c0.values() for p in c}
            | self.members
            | {os.getpid()}
        )
        others = []
        for pid, (comm, v) in self._everyone().items():
            if pid in ours:
                continue
            used = v - self.all0.get(pid, (comm, 0.0))[1]
            if used > 0:
                others.append((used, f"{pid}:{comm}"))
        others.sort(reverse=True)
        out["others_cores"] = round(sum(u for u, _ in others) / wall, 3)  # everything not ours
        out["others_top"] = {name: round(u / wall, 3) for u, name in others[:6]}
        return out


class CpuTimeline:
    """Cores used per second by a gunicorn tree (master + workers, exited ones included, see
    `tree_cpu_seconds`) and by other process groups, sampled by a thread from start() to stop();
    and every change of the master's workers (pid born, pid gone), watched every 0.25 s."""

    def __init__(self, master: int, groups: dict[str, list[int]], every: float = 1.0):
        self.master, self.groups, self.every = master, groups, every
        self.samples: list[dict[str, Any]] = []
        self.worker_events: list[tuple[float, str, int]] = []  # (monotonic time, "born"/"gone", pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _take(self) -> dict[str, Any]:
        server, _ = tree_cpu_seconds(self.master)
        busy, total = system_cpu()
        sample = {"t": time.monotonic(), "server": server, "busy": busy, "total": total}
        for name, pids in self.groups.items():
            sample[name] = sum(cpu_seconds(p) for p in pids)
        return sample

    def _run(self) -> None:
        workers = set(children_of(self.master))
        next_sample = time.monotonic() + self.every
        while not self._stop.wait(0.25):
            now_workers = set(children_of(self.master))
            t = time.monotonic()
            self.worker_events += [(t, "born", p) for p in sorted(now_workers - workers)]
            self.worker_events += [(t, "gone", p) for p in sorted(workers - now_workers)]
            workers = now_workers
            if t >= next_sample:
                self.samples.append(self._take())
                next_sample += self.every

    def start(self) -> None:
        self.samples.append(self._take())
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.samples.append(self._take())

    def series(self) -> list[dict[str, Any]]:
        """Per interval: its end (monotonic s), and cores of each group; machine busy %."""
        out = []
        for a, b in zip(self.samples, self.samples[1:], strict=False):
            wall = b["t"] - a["t"]
            if wall <= 0:
                continue
            row: dict[str, Any] = {"t": b["t"], "wall_s": round(wall, 3)}
            for name in ("server", *self.groups):
                row[f"{name}_cores"] = round((b[name] - a[name]) / wall, 3)
            total = b["total"] - a["total"]
            row["machine_busy_pct"] = round(100 * (b["busy"] - a["busy"]) / total, 1) if total else None
            out.append(row)
        return out


# ------------------------------------------------------------------------------------------------
# PostgreSQL, Redis


def clear_redis(db: int, namespace: str) -> int:
    import redis

    r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    n = 0
    for key in r.scan_iter(f"{namespace}:*", count=1000):
        n += r.delete(key)
    r.close()
    return n


# ------------------------------------------------------------------------------------------------
# the app under test


def app_env(args: argparse.Namespace, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"{PG}/{args.db}",
        REDIS_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/{args.redis_db}",
        REDIS_NAMESPACE=args.namespace,
        SECRET_KEY=args.secret_key,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY=str(args.workers),
        WORKER_CONNECTIONS=str(args.worker_connections),
        GRACEFUL_TIMEOUT=str(args.graceful_timeout),
        LOG_JSON="0",
        WS_CONNECTION_LIMIT=str(args.ws_limit),
        RATELIMIT_API_PER_IP=RAISED,
        RATELIMIT_SCORE_PER_USER=RAISED,
        RATELIMIT_TOKEN_PER_USER=RAISED,
        RATELIMIT_SCORE_PER_SESSION="1000000/hour",
        RATELIMIT_REGISTER_PER_IP="1000000/hour",
        RATELIMIT_STRATEGY="fixed-window",
        FRAUD_BURST_COUNT="1000000",
        SUSPICIOUS_VELOCITY_THRESHOLD="1000000000",
        MANUAL_REVIEW_THRESHOLD="1000000000",
        FRAUD_ACCOUNTS_PER_IP="1000000",
        PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        ACTION_CATALOG='{"complete_task": {"points": 10, "cooldown_seconds": 0, "max_per_hour": 0}}',
        FLASK_APP="wsgi:app",
        PYTHONUNBUFFERED="1",
    )
    if args.min_interval_ms is not None:
        env["LIVE_MIN_INTERVAL_MS"] = str(args.min_interval_ms)
    env.pop("ACCESS_LOG", None)
    return env


class Server:
    """A gunicorn master and its workers."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        env: dict[str, str],
        port: int,
        workers: int,
        health: str,
        log_path: Path,
        cwd: Path = ROOT,
    ):
        self.name, self.port, self.nworkers, self.log_path = name, port, workers, log_path
        self.proc = CHILDREN.start(cmd, env=env, log=log_path, cwd=cwd)
        deadline = time.monotonic() + 90
        url = f"http://127.0.0.1:{port}{health}"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited {self.proc.returncode}; log:\n{tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {url}; log:\n{tail(log_path)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (127.0.0.1)
                    if r.status == 200 and len(self.workers()) >= workers:
                        break
            except OSError:
                pass
            time.sleep(0.2)

    def workers(self) -> list[int]:
        return children_of(self.proc.pid)

    def worker_rss_kb(self) -> dict[int, int]:
        return {pid: rss_kb(pid) for pid in self.workers()}

    def worker_sockets(self) -> dict[int, int]:
        return {pid: socket_fds(pid) for pid in self.workers()}

    def stop(self) -> None:
        CHILDREN.stop(self.proc, timeout=30)


# ------------------------------------------------------------------------------------------------
# the Node viewers


class Viewers:
    def __init__(self, cfg: dict[str, Any], log_path: Path):
        self.cfg = cfg
        self.lines: queue.Queue[tuple[str, Any]] = queue.Queue()
        cmd = ["node", "--max-old-space-size=8192", str(NODE_DIR / "client.mjs"), json.dumps(cfg)]
        self.proc = CHILDREN.start(
            cmd, cwd=NODE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log_path, "ab")
        )  # noqa: SIM115
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            tag, _, body = line.partition(" ")
            try:
                self.lines.put((tag, json.loads(body)))
            except json.JSONDecodeError:
                self.lines.put(("TEXT", line))
        self.lines.put(("EOF", None))

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def expect(self, tag: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"viewers: no {tag} within {timeout:.0f}s")
            try:
                got, body = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if got == tag:
                return body
            if got == "EOF":
                raise RuntimeError(f"viewers exited ({self.proc.poll()}) while waiting for {tag}")

    def status(self, seq: int | None = None) -> dict[str, Any]:
        self.send({"cmd": "status", "seq": seq})
        return self.expect("STATUS", 60)

    def sample(self) -> str | None:
        self.send({"cmd": "sample"})
        return self.expect("SAMPLE", 60)["text"]

    def finish(self, commits: list[list[float]], final_seq: int) -> dict[str, Any]:
        self.send({"cmd": "finish", "commits": commits, "final_seq": final_seq})
        result = self.expect("RESULT", 300)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        CHILDREN.stop(self.proc)
        return result

    def kill(self) -> None:
        CHILDREN.stop(self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid


def viewer_cfg(
    mode: str,
    port: int,
    n: int,
    args: argparse.Namespace,
    deflate: bool = True,
    board: str | None = None,
    reconnect: bool = False,
) -> dict[str, Any]:
    """The viewers' settings; with `board`, they follow that board's all-time stream (SPEC §14);
    with `reconnect`, they come back after the connection ends, as static/app.js does (SPEC §16)."""
    sources = [f"127.0.0.{i + 1}" for i in range(max(1, math.ceil(n / PER_SOURCE_IP)))]
    return {
        "mode": mode,
        "host": "127.0.0.1",
        "port": port,
        "n": n,
        "concurrency": args.connect_concurrency,
        "sources": sources,
        "parse": args.parse,
        "deflate": deflate,
        "query": f"board={board}&period=all" if board else "",
        "board": board,
        "reconnect": reconnect,
    }


class ViewerGroup:
    """N viewers split over `procs` Node processes (each its own event loop), results merged."""

    def __init__(self, cfg: dict[str, Any], procs: int, log_path: Path):
        n = cfg["n"]
        procs = max(1, min(procs, n))
        sizes = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        self.parts: list[Viewers] = []
        offset = 0
        for i, size in enumerate(sizes):
            part = dict(cfg, n=size, offset=offset, concurrency=max(1, cfg["concurrency"] // procs))
            name = log_path if procs == 1 else log_path.with_name(f"{log_path.stem}-{i}{log_path.suffix}")
            self.parts.append(Viewers(part, name))
            offset += size
        self.n = n

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.parts]

    def expect_ready(self, timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        return [p.expect("READY", max(1.0, deadline - time.monotonic())) for p in self.parts]

    def status(self, seq: int | None = None) -> dict[str, Any]:
        for p in self.parts:  # ask all first: they answer in parallel
            p.send({"cmd": "status", "seq": seq})
        return merge_counts([p.expect("STATUS", 60) for p in self.parts])

    def mark(self) -> None:
        for p in self.parts:
            p.send({"cmd": "mark"})
        for p in self.parts:
            p.expect("MARK", 60)

    def sample(self) -> str | None:
        return self.parts[0].sample()

    def finish(self, commits: list[list[float]], final_seq: int) -> dict[str, Any]:
        return merge_results(self.finish_parts(commits, final_seq), self.n)

    def finish_parts(
        self,
        commits: list[list[float]],
        final_seq: int,
        windows: dict[str, list[float]] | None = None,
        restart_at: float | None = None,
    ) -> list[dict[str, Any]]:
        """Each process's own result (for `merge_results`); `windows` (name → [t0_ms, t1_ms]):
        latency of the commits whose 200 arrived in each, separately; `restart_at` (ms): the
        time goodbyes and returns are counted from."""
        cmd = {"cmd": "finish", "commits": commits, "final_seq": final_seq}
        if windows:
            cmd["windows"] = windows
        if restart_at is not None:
            cmd["restart_at"] = restart_at
        for p in self.parts:
            p.send(cmd)
        results = [p.expect("RESULT", 300) for p in self.parts]
        for p in self.parts:
            try:
                p.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
            CHILDREN.stop(p.proc)
        return results

    def kill(self) -> None:
        for p in self.parts:
            p.kill()


def merge_counts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up the numbers of several clients' answers; dicts of counts add up key by key."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, bool) or value is None:
                out.setdefault(key, value)
            elif isinstance(value, int | float):
                out[key] = out.get(key, 0) + value
            elif isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values()):
                d = out.setdefault(key, {})
                for k, v in value.items():
                    d[k] = d.get(k, 0) + v
            else:
                out.setdefault(key, value)
    if len(parts) > 1 and "ramp_s" in out:
        out["ramp_s"] = max((p.get("ramp_s") or 0) for p in parts)
    return out


def summary_from_hist(hist: dict[str, int]) -> dict[str, Any]:
    """Percentiles from 0.1 ms buckets (bucket b holds values in [b/10, (b+1)/10) ms)."""
    items = sorted((int(b), c) for b, c in hist.items())
    n = sum(c for _, c in items)
    if not n:
        return {"n": 0}
    out: dict[str, Any] = {"n": n, "min": items[0][0] / 10}
    marks = [(50, "p50"), (90, "p90"), (95, "p95"), (99, "p99"), (99.9, "p999")]
    seen, i = 0, 0
    for b, c in items:
        seen += c
        while i < len(marks) and seen >= math.ceil(marks[i][0] / 100 * n):
            out[marks[i][1]] = round((b + 1) / 10, 1)  # upper edge: never understates
            i += 1
    out["max"] = round((items[-1][0] + 1) / 10, 1)
    out["mean"] = round(sum((b + 0.5) / 10 * c for b, c in items) / n, 2)
    return out


def summary_of(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    v = sorted(values)

    def pct(p: float) -> float:
        return v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))]

    return {
        "n": len(v),
        "min": v[0],
        "p50": pct(50),
        "p90": pct(90),
        "p95": pct(95),
        "p99": pct(99),
        "max": v[-1],
        "mean": round(sum(v) / len(v), 2),
    }


def merge_results(parts: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """One client result from several processes' results."""
    hists = {
        "latency_ms": "hist_latency",
        "latency_from_send_ms": "hist_from_send",
        "latency_from_event_ms": "hist_from_event",
    }
    raw_lists = {
        "per_connection_p95_ms": "per_connection_p95",
        "connect_ms": "connect_ms_raw",
        "first_message_ms": "first_message_ms_raw",
        # outages (viewers that reconnect, --restart): each from the goodbye to ...
        "outage_wait_ms": "outage_wait_ms_raw",  # ... the end of the wait before reconnecting
        "outage_open_ms": "outage_open_ms_raw",  # ... the new connection open
        "outage_ms": "outage_ms_raw",  # ... its first message (the snapshot): the reconnect delay
        "goodbye_after_restart_ms": "goodbye_after_restart_ms_raw",  # goodbyes, from the restart
        "back_after_restart_ms": "back_after_restart_ms_raw",  # returns, from the restart
    }
    skip = (
        set(hists)
        | set(hists.values())
        | set(raw_lists)
        | set(raw_lists.values())
        | {"event_loop_delay_ms", "windows"}
    )
    out = merge_counts([{k: v for k, v in p.items() if k not in skip} for p in parts])
    out["n"] = n
    out["final_seq"] = parts[0]["final_seq"]
    out["commits"] = parts[0]["commits"]
    out["sample_bytes"] = parts[0]["sample_bytes"]
    out["processes"] = len(parts)
    for name, key in hists.items():
        merged: dict[str, int] = {}
        for p in parts:
            for b, c in (p.get(key) or {}).items():
                merged[b] = merged.get(b, 0) + c
        out[name] = summary_from_hist(merged)
        if len(parts) == 1:  # exact figures from the one client
            out[name] = parts[0][name]
    for name, key in raw_lists.items():
        out[name] = summary_of([v for p in parts for v in (p.get(key) or [])])
    out["event_loop_delay_ms"] = [p.get("event_loop_delay_ms") for p in parts]
    out["windows"] = {}
    for name in parts[0].get("windows") or {}:
        ws = [p["windows"][name] for p in parts]
        merged = {}
        for w in ws:
            for b, c in w["hist_latency"].items():
                merged[b] = merged.get(b, 0) + c
        out["windows"][name] = {
            "samples": sum(w["samples"] for w in ws),
            "missing": sum(w["missing"] for w in ws),
            "latency_ms": ws[0]["latency_ms"] if len(ws) == 1 else summary_from_hist(merged),
            "per_connection_max_ms": summary_of([v for w in ws for v in w["per_connection_max_raw"]]),
        }
    return out


# ------------------------------------------------------------------------------------------------
# the driver: players, and board changes through the real API


class Api:
    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0.0

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, retry: bool = True
    ) -> tuple[int, Any]:
        payload, headers = json_request(body, token)
        if self.conn is not None and time.monotonic() - self.used > 2.0:  # gunicorn's keepalive is 5 s
            self.close()
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request(method, path, body=payload, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                self.used = time.monotonic()
                return resp.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2 or not retry:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Player:
    def __init__(self, pid: int, username: str, password: str, token: str):
        self.id, self.username, self.password, self.access = pid, username, password, token
        self.action: str | None = None
        self.score = 0
        self.updated = 0  # order of the latest score change (the model's score_updated_at)


class SeqWatch:
    """One WebSocket per player, tied to the player by `?access_token=`: the server sends each
    `score_update` (SPEC §7) only there, with the seq of that player's change. This is how the
    driver learns the seq each submit committed, through the public protocol only.

    With `reconnect` (--restart), a socket the server closes is opened again 0.2 s later, until
    close(): this is the driver's instrument, not a viewer. A change committed while its player's
    socket is away has no score_update here; `fill_seqs` counts those."""

    def __init__(self, port: int, players: list[Player], query: str = "", reconnect: bool = False):
        import simple_websocket

        self.seqs: dict[tuple[int, int], tuple[int, float]] = {}
        self.cond = threading.Condition()
        self.socks = []
        self.reconnect = reconnect
        self.reconnects = 0
        self.closing = False
        for p in players:
            url = f"ws://127.0.0.1:{port}/ws/scoreboard?{query}access_token={p.access}"
            ws = simple_websocket.Client.connect(url)
            self.socks.append(ws)
            threading.Thread(target=self._follow, args=(ws, url), daemon=True).start()

    def _follow(self, ws: Any, url: str) -> None:
        import simple_websocket

        while True:
            self._read(ws)
            if not self.reconnect or self.closing:
                return
            time.sleep(0.2)  # a stopping worker still accepting sends it away again at once
            while not self.closing:
                try:
                    ws = simple_websocket.Client.connect(url)
                except (simple_websocket.ConnectionError, simple_websocket.ConnectionClosed, OSError):
                    time.sleep(0.05)
                    continue
                self.socks.append(ws)
                with self.cond:
                    self.reconnects += 1
                break

    def _read(self, ws: Any) -> None:
        import simple_websocket

        while True:
            try:
                raw = ws.receive()
                t = time.monotonic()
            except (simple_websocket.ConnectionClosed, OSError):
                return
            if raw is None:
                continue
            head = raw[:40] if isinstance(raw, str) else raw[:40].decode(errors="replace")
            if "score_update" not in head:
                continue
            m = json.loads(raw)
            d = m["data"]
            with self.cond:
                self.seqs[(d["user_id"], d["new_score"])] = (m["seq"], t)
                self.cond.notify_all()

    def seq_of(self, user_id: int, score: int, timeout: float = 10.0) -> tuple[int, float] | None:
        """The seq of that change and when its score_update reached the driver (CLOCK_MONOTONIC)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while (user_id, score) not in self.seqs:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.seqs[(user_id, score)]

    def close(self) -> None:
        self.closing = True
        for ws in self.socks:
            try:
                ws.close()
            except Exception:  # noqa: S110 (already gone)
                pass


def fill_seqs(seqs: list[int | None]) -> list[int | None]:
    """The seqs of serial changes, some unknown (the driver's socket for that player was away,
    --restart): the driver is the only writer, so an unknown change between two known ones gets
    its seq by counting, when the two differ by exactly the number of changes from one to the
    other (no other seq in between). Any other unknown stays None."""
    out = list(seqs)
    known = [i for i, s in enumerate(seqs) if s is not None]
    for a, b in zip(known, known[1:], strict=False):
        if b - a > 1 and seqs[b] - seqs[a] == b - a:  # type: ignore[operator]
            for i in range(a + 1, b):
                out[i] = seqs[a] + (i - a)  # type: ignore[operator]
    return out


class Refused(RuntimeError):
    """The API answered a request of the driver with something else than it needs."""

    def __init__(self, what: str, status: int, body: Any):
        super().__init__(f"{what}: {status} {body}")
        self.status = status
        self.code = ((body or {}).get("error") or {}).get("code") if isinstance(body, dict) else None


TOKEN_RETRY = ("TOKEN_EXPIRED", "TOKEN_INVALID", "TOKEN_ALREADY_USED")


class Driver:
    """Registers players and drives board changes; keeps a model of the ranking to pick them.

    `board`: the board the changes score on (SPEC §14; its all-time stream is the one watched
    and checked); `main` by default.

    `tolerant` (--restart): a request that fails (no answer, a 5xx, any unexpected status) is
    recorded in `failures` and retried, instead of ending the run."""

    def __init__(self, args: argparse.Namespace, board: str = "main"):
        self.args = args
        self.board = board
        self.players: list[Player] = []
        self.clock = 0
        self.api: Api | None = None
        self.watch: SeqWatch | None = None
        self.tolerant = False
        self.failures: list[tuple[float, str, int | None]] = []  # (monotonic time, what, HTTP status)
        self.answers_lost = 0  # submits committed whose answer never came (seen as TOKEN_ALREADY_USED)

    @property
    def query(self) -> str:
        """The live stream's query string (with a trailing &), empty for main's all-time."""
        return "" if self.board == "main" else f"board={self.board}&period=all&"

    def on_board(self, slug: str) -> Driver:
        """A driver of the same players scoring on another board (their scores there start at 0)."""
        other = Driver(self.args, slug)
        other.players = [Player(p.id, p.username, p.password, p.access) for p in self.players]
        return other

    def seed(self) -> None:
        """One accepted action each on this driver's board: everybody ranked there."""
        for p in self.players:
            self.submit(p)

    def attach(self, port: int, watch: bool = True, reconnect: bool = False) -> None:
        """Use the server on `port`: fresh access tokens (they live 15 min), the seq watchers
        (reconnecting, with `reconnect`)."""
        self.detach()
        self.api = Api(port)
        for p in self.players:
            status, body = self.api.call(
                "POST", "/api/v1/auth/login", {"username": p.username, "password": p.password}
            )
            if status != 200:
                raise RuntimeError(f"login {p.username}: {status} {body}")
            p.access = body["access_token"]
        if watch and self.players:
            self.watch = SeqWatch(port, self.players, self.query, reconnect)

    def detach(self) -> None:
        if self.watch is not None:
            self.watch.close()
            self.watch = None
        if self.api is not None:
            self.api.close()
            self.api = None

    def register(self, n: int) -> None:
        assert self.api is not None
        tag = secrets.token_hex(3)
        password = "bench-password-" + tag
        for i in range(n):
            name = f"lb{tag}_{i:02d}"
            status, body = self.api.call(
                "POST",
                "/api/v1/auth/register",
                {"username": name, "email": f"{name}@bench.example", "password": password},
            )
            if status != 201:
                raise RuntimeError(f"register {name}: {status} {body}")
            self.players.append(Player(body["user"]["id"], name, password, body["access_token"]))
        for p in self.players:  # one accepted action each: everybody ranked, 10 points, id order
            self.submit(p)

    def ranking(self) -> list[Player]:
        return sorted(self.players, key=lambda p: (-p.score, p.updated, p.id))

    def pick(self) -> Player:
        """A player from outside the top 10 whose +10 enters it (lowest first), else rank 10."""
        order = self.ranking()
        if len(order) <= 10:
            return order[-1]
        tenth = order[9]
        for p in reversed(order[10:]):
            if p.score + 10 > tenth.score:
                return p
        return tenth

    def _token(self, p: Player) -> str:
        assert self.api is not None
        if p.action is None:
            request = {"action_type": "complete_task"}
            if self.board != "main":
                request["board"] = self.board
            status, body = self.api.call("POST", "/api/v1/actions/token", request, p.access)
            if status != 201:
                raise Refused(f"action token for {p.username}", status, body)
            p.action = body["action_token"]
        return p.action

    def _failed(self, what: str, status: int | None = None, detail: Any = "") -> None:
        if not self.tolerant:
            raise RuntimeError(f"{what}: {detail}")
        self.failures.append((time.monotonic(), what, status))
        time.sleep(0.05)

    def submit(self, p: Player) -> tuple[float, float]:
        """One accepted change; (send time, 200 time) on CLOCK_MONOTONIC."""
        assert self.api is not None
        unanswered = False  # a submit of this change went out and no answer came back
        for _ in range(40 if self.tolerant else 3):
            try:
                token = self._token(p)
            except Refused as err:
                self._failed(f"token {err.status} {err.code or ''}".strip(), err.status, err)
                continue
            except (http.client.HTTPException, OSError) as exc:
                self._failed(f"token no answer ({type(exc).__name__})", detail=exc)
                continue
            t_send = time.monotonic()
            try:
                status, body = self.api.call(
                    "POST", "/api/v1/scores", {"action_token": token}, p.access, retry=False
                )
            except (http.client.HTTPException, OSError) as exc:
                unanswered = True  # retried with the same token: committed or not, never twice
                self._failed(f"submit no answer ({type(exc).__name__})", detail=exc)
                continue
            t_resp = time.monotonic()
            if status == 200:
                data = body["data"]
                p.action = data.get("next_action_token")
                p.score = data["new_score"]
                self.clock += 1
                p.updated = self.clock
                return t_send, t_resp
            code = (body or {}).get("error", {}).get("code")
            p.action = None
            if code == "TOKEN_ALREADY_USED" and unanswered:  # the unanswered submit had committed
                self.answers_lost += 1
                self._refresh(p)
                unanswered = False
            elif code not in TOKEN_RETRY:
                self._failed(f"submit {status} {code or ''}".strip(), status, f"{p.username}: {body}")
        last = self.failures[-1][1] if self.failures else "a token refused every time"
        raise RuntimeError(f"submit for {p.username} kept failing (last: {last})")

    def _refresh(self, p: Player) -> None:
        """The player's score from the API (the model missed an accepted change)."""
        assert self.api is not None
        status, body = self.api.call("GET", f"/api/v1/users/{p.id}/rank")
        if status != 200:
            raise Refused(f"rank of {p.username}", status, body)
        p.score = body["score"]
        self.clock += 1
        p.updated = self.clock

    def drive(
        self, duration: float, rate: float, at: dict[float, Any] | None = None, seq_wait: float = 10.0
    ) -> dict[str, Any]:
        """`rate` changes a second for `duration` seconds; `at` (seconds from the start →
        function): called once when that time comes, between two changes (or after the last one);
        `seq_wait`: seconds to wait for the score_updates still missing at the end.

        commits: [[seq, t_200_ms, t_send_ms, t_score_update_ms], ...] on CLOCK_MONOTONIC."""
        done: list[tuple[int, int, float, float]] = []
        start = time.monotonic()
        n = int(duration * rate)
        late = 0
        hooks = sorted((at or {}).items())
        for i in range(n):
            due = start + i / rate
            while hooks and due >= start + hooks[0][0]:
                offset, hook = hooks.pop(0)
                time.sleep(max(0.0, start + offset - time.monotonic()))
                hook()
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.05:
                late += 1
            p = self.pick()
            t_send, t_resp = self.submit(p)
            done.append((p.id, p.score, t_send, t_resp))
        wall = time.monotonic() - start
        for offset, hook in hooks:  # the rest come after the last change, each at its time
            time.sleep(max(0.0, start + offset - time.monotonic()))
            hook()
        assert self.watch is not None
        deadline = time.monotonic() + seq_wait
        found = [  # the seq each change committed, from its score_update
            self.watch.seq_of(uid, score, max(0.0, deadline - time.monotonic())) for uid, score, _, _ in done
        ]
        filled = fill_seqs([got[0] if got else None for got in found])
        commits, unknown, counted = [], 0, 0
        for (_, _, t_send, t_resp), got, seq in zip(done, found, filled, strict=True):
            if seq is None:
                unknown += 1
                continue
            counted += got is None
            t_event = got[1] * 1000 if got else None
            commits.append([seq, t_resp * 1000, t_send * 1000, t_event])
        seqs = [c[0] for c in commits]
        gaps = sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b != a + 1)
        submit_ms = sorted((t_resp - t_send) * 1000 for _, _, t_send, t_resp in done)
        return {
            "commits": commits,
            "changes": n,
            "achieved_rate": round(n / wall, 2) if wall else None,
            "late": late,
            "seq_unknown": unknown,
            "seq_counted": counted,  # unknown from score_update, counted by fill_seqs
            "seq_gaps": gaps,
            "submit_ms": {
                "p50": round(submit_ms[len(submit_ms) // 2], 2),
                "p95": round(submit_ms[int(len(submit_ms) * 0.95)], 2),
                "max": round(submit_ms[-1], 2),
            }
            if submit_ms
            else {},
        }

    def check_model(self) -> dict[str, Any]:
        assert self.api is not None
        path = "/api/v1/leaderboard?limit=10"
        if self.board != "main":
            path = f"/api/v1/boards/{self.board}/leaderboard?period=all&limit=10"
        status, body = self.api.call("GET", path)
        api_top = [e["user_id"] for e in body["leaderboard"]]
        model_top = [p.id for p in self.ranking()[:10]]
        return {"api_seq": body["seq"], "model_matches_api": api_top == model_top}


# ------------------------------------------------------------------------------------------------
# profiling


def profile_workers(pids: list[int], seconds: float, out_dir: Path, tag: str) -> list[subprocess.Popen]:
    spy = VENV_BIN / "py-spy"
    procs = []
    for pid in pids:
        out = out_dir / f"{tag}-pyspy-{pid}.txt"
        procs.append(
            CHILDREN.start(
                [
                    str(spy),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(int(seconds)),
                    "--rate",
                    "100",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(out),
                ],
                log=out_dir / f"{tag}-pyspy.log",
            )
        )
    return procs


def collect_profile(
    spies: list[subprocess.Popen], workers: list[int], seconds: float, run_dir: Path, tag: str
) -> dict[str, Any]:
    """Wait for the py-spy recorders started by `profile_workers`, then summarise their output."""
    for spy in spies:
        try:
            spy.wait(seconds + 30)
        except subprocess.TimeoutExpired:
            CHILDREN.stop(spy)
    return summarise_profile([run_dir / f"{tag}-pyspy-{pid}.txt" for pid in workers])


def summarise_profile(files: list[Path], top: int = 20) -> dict[str, Any]:
    self_count: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for f in files:
        if not f.exists():
            continue
        for line in f.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            c = int(count)
            frames = [fr for fr in stack.split(";") if fr]
            frames = [fr for fr in frames if not fr.startswith("process ") and not fr.startswith("thread ")]
            if not frames:
                continue
            total += c
            self_count[short_frame(frames[-1])] += c
            for fr in {short_frame(fr) for fr in frames}:
                incl[fr] += c

    def pct(counter: collections.Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * c / total, 1)] for name, c in counter.most_common(top)] if total else []

    return {"samples": total, "self_pct": pct(self_count), "inclusive_pct": pct(incl)}


def short_frame(frame: str) -> str:
    """`func (path/to/pkg/module.py:123)` → `func (pkg/module.py)`: samples add up per function."""
    m = re.match(r"(.*) \((.*):(\d+)\)$", frame)
    if not m:
        return frame
    func, path, line = m.groups()
    parts = path.split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif "app" in parts:
        parts = parts[parts.index("app") :]
    else:
        parts = parts[-2:]
    name = f"{func} ({'/'.join(parts)})"
    if name == "Hub.run (gevent/hub.py)":
        name += " [the event loop: waiting in libev counts here too]"
    return name


# ------------------------------------------------------------------------------------------------
# phases


def idle_viewers(
    server: Server,
    mode: str,
    n: int,
    args: argparse.Namespace,
    run_dir: Path,
    tag: str,
    deflate: bool = True,
) -> tuple[ViewerGroup, dict[str, Any]]:
    """Warm both workers up, then connect N viewers and measure what holding them costs."""
    warm = ViewerGroup(
        viewer_cfg(mode, server.port, 64, args, deflate),
        args.client_procs,
        run_dir / f"{tag}-warmup-client.log",
    )
    warm.expect_ready(60)
    warm.finish([], -1)
    time.sleep(2.0)  # the warm-up connections close
    base_sockets = server.worker_sockets()
    rss0 = server.worker_rss_kb()
    tcp0 = tcp_mem_kb()

    log(f"{tag}: connecting {n} {mode} viewers")
    t0 = time.monotonic()
    viewers = ViewerGroup(
        viewer_cfg(mode, server.port, n, args, deflate), args.client_procs, run_dir / f"{tag}-client.log"
    )
    ready = viewers.expect_ready(120 + n / 20)
    ramp_s = time.monotonic() - t0
    time.sleep(args.settle)
    st = viewers.status()
    rss1 = server.worker_rss_kb()
    tcp1 = tcp_mem_kb()
    sockets = server.worker_sockets()
    held_per_worker = {str(pid): sockets.get(pid, 0) - base_sockets.get(pid, 0) for pid in sockets}
    held = max(st["open"], 1)
    info = {
        "ready": merge_counts(ready),
        "status_idle": st,
        "ramp_s": round(ramp_s, 2),
        "connections_held": st["open"],
        "held_per_worker": held_per_worker,
        "rss_before_kb": rss0,
        "rss_after_kb": {str(k): v for k, v in rss1.items()},
        "rss_before_total_kb": sum(rss0.values()),
        "rss_after_total_kb": sum(rss1.values()),
        "kb_per_connection": round((sum(rss1.values()) - sum(rss0.values())) / held, 2),
        "kernel_tcp_kb_per_connection": round((tcp1 - tcp0) / held / 2, 2),  # both ends are here
    }
    log(
        f"{tag}: {st['open']}/{n} held (failed {st['failed']}, closed {st['closed']}) in {ramp_s:.1f}s; "
        f"per worker {list(held_per_worker.values())}; {info['kb_per_connection']} KB RSS per idle connection"
    )
    return viewers, info


def settle(viewers: Viewers, seq: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        st = viewers.status(seq)
        if st["at_seq"] >= st["open"] or time.monotonic() > deadline:
            return st
        time.sleep(0.25)


def app_phase(mode: str, n: int, args: argparse.Namespace, driver: Driver, run_dir: Path) -> dict[str, Any]:
    tag = f"{mode}-{n}"
    port = free_port()
    cmd = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", *NO_CTL, "wsgi:app"]
    server = Server(
        "app", cmd, app_env(args, port), port, args.workers, "/readyz", run_dir / f"{tag}-server.log"
    )
    viewers = None
    try:
        driver.attach(port)
        viewers, idle = idle_viewers(server, mode, n, args, run_dir, tag)
        workers = server.workers()
        rp = redis_pid()
        cpu = CpuWindow(
            {
                "server": [server.proc.pid, *workers],
                "client": viewers.pids,
                "postgres": lambda: pids_named("postgres"),
                "redis": [rp] if rp else [],
                "driver": [os.getpid()],
            }
        )
        log(f"{tag}: driving {args.rate}/s for {args.duration}s")
        viewers.mark()  # the clients' event-loop delay is measured over the window
        cpu.start()
        drive = driver.drive(args.duration, args.rate)
        commits = drive.pop("commits")
        last_seq = max((c[0] for c in commits), default=0)
        st = settle(viewers, last_seq, 15)
        cpu_window = cpu.stop()
        profile = None
        if args.profile and n >= args.profile_min_n:
            log(f"{tag}: profiling the workers for {args.profile}s under the same load (not measured)")
            spies = profile_workers(workers, args.profile, run_dir, tag)
            last_seq = max([last_seq] + [c[0] for c in driver.drive(args.profile, args.rate)["commits"]])
            profile = collect_profile(spies, workers, args.profile, run_dir, tag)
        st = settle(viewers, last_seq, 15)
        check = driver.check_model()
        sample = viewers.sample()
        result = viewers.finish(commits, check["api_seq"])
        viewers = None
        driver.detach()
        stats = {
            "phase": tag,
            "transport": mode,
            "n": n,
            **idle,
            **drive,
            "cpu": cpu_window,
            "last_commit_seq": last_seq,
            **check,
            "status_final": st,
            "client": result,
            "profile": profile,
        }
        report_phase(stats)
        return stats | {"sample": sample}
    finally:
        if viewers is not None:
            viewers.kill()
        driver.detach()
        server.stop()


# ------------------------------------------------------------------------------------------------
# restarting every worker while changes flow (SPEC §16, --restart)


def restart_split(n: int, transport: str) -> dict[str, int]:
    """How the N viewers are split over the transports: `both` → half WebSocket, half SSE."""
    if transport == "both":
        return {"ws": n - n // 2, "sse": n // 2}
    return {transport: n}


def server_log_problems(path: Path, keep: int = 12) -> dict[str, Any]:
    """Warnings, errors and tracebacks in the server's log (gunicorn's `[LEVEL]` lines and the
    app's JSON lines), and what each stopping worker said it sent elsewhere."""
    counts: collections.Counter[str] = collections.Counter()
    lines: list[str] = []
    drained: list[int] = []
    for line in path.read_text(errors="replace").splitlines():
        level = None
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                entry = {}
            level = entry.get("level")
            m = re.match(r"stopping: sent (\d+) live connections elsewhere", entry.get("message", ""))
            if m:
                drained.append(int(m.group(1)))
        else:
            m = re.search(r"\[(WARNING|ERROR|CRITICAL)\]", line)
            level = m.group(1) if m else ("TRACEBACK" if line.startswith("Traceback") else None)
        if level in ("WARNING", "ERROR", "CRITICAL", "TRACEBACK"):
            counts[level] += 1
            if len(lines) < keep:
                lines.append(line[:300])
    return {"counts": dict(counts), "first": lines, "drained_per_worker": drained}


def restart_phase(n: int, args: argparse.Namespace, driver: Driver, run_dir: Path) -> dict[str, Any]:
    """N viewers that reconnect as static/app.js does (half WebSocket, half SSE with
    `--transport both`); `--rate` changes a second for 2 × `--duration` seconds without a pause:
    a steady window (the baseline), then `kill -HUP` to the gunicorn master (it starts new workers
    and stops every old one: SIGTERM, each sends its connections elsewhere, SPEC §16) and the
    restart window; then wait until every viewer is back and on the last seq."""
    tag = f"restart-{n}"
    split = restart_split(n, args.transport)
    port = free_port()
    cmd = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", *NO_CTL, "wsgi:app"]
    env = app_env(args, port) | {"LOG_JSON": "1"}  # the app's info lines too: each worker's drain count
    log_path = run_dir / f"{tag}-server.log"
    server = Server("app", cmd, env, port, args.workers, "/readyz", log_path)
    groups: dict[str, ViewerGroup] = {}
    try:
        driver.attach(port, reconnect=True)
        driver.tolerant, driver.failures, driver.answers_lost = True, [], 0
        warm = ViewerGroup(
            viewer_cfg("ws", port, 64, args), args.client_procs, run_dir / f"{tag}-warmup-client.log"
        )
        warm.expect_ready(60)
        warm.finish([], -1)
        time.sleep(2.0)  # the warm-up connections close
        t_ramp = time.monotonic()
        for mode, k in split.items():
            log(f"{tag}: connecting {k} {mode} viewers (reconnecting as static/app.js does)")
            group = ViewerGroup(
                viewer_cfg(mode, port, k, args, reconnect=True),
                args.client_procs,
                run_dir / f"{tag}-{mode}-client.log",
            )
            groups[mode] = group
            group.expect_ready(120 + k / 20)

        def statuses(seq: int | None = None) -> dict[str, dict[str, Any]]:
            return {mode: g.status(seq) for mode, g in groups.items()}

        def all_held() -> dict[str, dict[str, Any]] | None:
            st = statuses()
            return st if all(x["with_snapshot"] == x["open"] == split[m] for m, x in st.items()) else None

        held = wait_for("every viewer held and on its snapshot", all_held, 30) or statuses()
        ramp_s = time.monotonic() - t_ramp
        master = server.proc.pid
        workers_before = server.workers()
        client_pids = [pid for g in groups.values() for pid in g.pids]
        rp = redis_pid()
        cpu = CpuWindow(
            {
                "client": client_pids,
                "postgres": lambda: pids_named("postgres"),
                "redis": [rp] if rp else [],
                "driver": [os.getpid()],
            },
            trees={"server": master},
        )
        timeline = CpuTimeline(master, {"client": client_pids})
        marks: dict[str, Any] = {}

        def restart() -> None:  # the steady window ends here; HUP: gunicorn replaces every worker
            marks["steady_cpu"] = cpu.stop()
            marks["hup"] = time.monotonic()
            os.kill(master, signal.SIGHUP)
            log(f"{tag}: kill -HUP {master} (workers {workers_before})")
            cpu.start()

        def restart_window_ends() -> None:  # as long as the steady one; the last change is in it
            marks["restart_cpu"] = cpu.stop()
            marks["restart_end"] = time.monotonic()

        load = os.getloadavg()
        log(
            f"{tag}: {sum(x['open'] for x in held.values())}/{n} held in {ramp_s:.1f}s; driving "
            f"{args.rate}/s: {args.duration:.0f}s steady, then HUP and {args.duration:.0f}s more "
            f"(load {load[0]:.2f})"
        )
        for g in groups.values():
            g.mark()
        timeline.start()
        cpu.start()
        t0 = time.monotonic()
        drive = driver.drive(
            2 * args.duration,
            args.rate,
            at={args.duration: restart, 2 * args.duration: restart_window_ends},
            seq_wait=2.0,  # a change made while its player's socket was away has no score_update
        )
        commits = drive.pop("commits")
        last_seq = max((c[0] for c in commits), default=0)

        def back_on(seq: int) -> dict[str, dict[str, Any]] | None:
            st = statuses(seq)
            ok = all(x["open"] == x["at_seq"] == split[m] and x["away"] == 0 for m, x in st.items())
            return st if ok else None

        settled = wait_for(
            "every viewer back and on the last seq", lambda: back_on(last_seq), args.restart_settle
        )
        settled = settled or statuses()
        t_end = time.monotonic()
        timeline.stop()
        workers_after = server.workers()
        server_log = server_log_problems(log_path)  # before the server's own stop adds its lines
        check = driver.check_model()
        hup = marks["hup"]
        windows = {"steady": [t0 * 1000, hup * 1000], "restart": [hup * 1000, marks["restart_end"] * 1000]}
        parts = {
            mode: g.finish_parts(commits, check["api_seq"], windows, hup * 1000) for mode, g in groups.items()
        }
        groups = {}
        seq_reconnects = driver.watch.reconnects if driver.watch else None
        driver.detach()
    finally:
        for g in groups.values():
            g.kill()
        driver.detach()
        driver.tolerant = False
        server.stop()

    per_mode = {mode: merge_results(ps, split[mode]) for mode, ps in parts.items()}
    both = merge_results([p for ps in parts.values() for p in ps], n)
    series = timeline.series()
    for row in series:
        row["t"] = round(row["t"] - hup, 2)  # seconds from the HUP (the interval's end)

    def window(name: str, t_from: float, t_to: float, cpu_window: dict[str, Any]) -> dict[str, Any]:
        """A window's figures: the changes committed in it (their 200 in [t_from, t_to)), how long
        the viewers were behind on them, the driver's failures, and the server's CPU: the mean
        over the window, the busiest second (of the restart: any second from the HUP on, the
        return of the viewers included)."""
        mine = [c for c in commits if t_from * 1000 <= c[1] < t_to * 1000]
        # an interval that holds the HUP counts for the restart
        rows = [r for r in series if (r["t"] > 0) == (name == "restart")]
        peak = max(rows, key=lambda r: r["server_cores"], default=None)
        fails = [f for f in driver.failures if t_from <= f[0] < t_to]
        w = both["windows"][name]
        return {
            "wall_s": round(t_to - t_from, 2),
            "changes": len(mine),
            "changes_per_s": round(len(mine) / (t_to - t_from), 2),
            "behind_ms": w["latency_ms"],  # per (viewer, change): commit (its 200) → the viewer has it
            "behind_per_viewer_max_ms": w["per_connection_max_ms"],
            "pairs": w["samples"],
            "missing": w["missing"],
            "behind_by_transport_ms": {m: r["windows"][name]["latency_ms"] for m, r in per_mode.items()},
            "submit_ms": summary_of([round(c[1] - c[2], 2) for c in mine]),
            "failures": dict(collections.Counter(f[1] for f in fails)),
            "http_5xx": sum(1 for f in fails if f[2] is not None and f[2] >= 500),
            "cpu": cpu_window,
            "server_cores_mean": cpu_window.get("server_cores"),
            "server_cores_peak_1s": peak["server_cores"] if peak else None,
            "server_peak_at_s": peak["t"] if peak else None,
            "seconds": len(rows),
        }

    steady = window("steady", t0, hup, marks["steady_cpu"])
    restarted = window("restart", hup, marks["restart_end"], marks["restart_cpu"])
    born = [round(t - hup, 2) for t, what, _ in timeline.worker_events if what == "born"]
    gone = [round(t - hup, 2) for t, what, pid in timeline.worker_events if what == "gone"]

    def outages(r: dict[str, Any], k: int) -> dict[str, Any]:
        return {
            "viewers": k,
            "sent_away": r["viewers_sent_away"],
            "back": r["viewers_back"],
            "away_at_end": r["viewers_away_at_end"],
            "sent_away_twice_or_more": r["viewers_sent_away_twice"],
            "goodbyes": r["goodbyes"],
            "reconnect_ms": r["outage_ms"],  # goodbye → first message on the new connection
            "reconnect_open_ms": r["outage_open_ms"],  # goodbye → the new connection open
            "waited_ms": r["outage_wait_ms"],  # the delays drawn (or told) before reconnecting
            "attempts_failed": r["reopen_failed"],
            "goodbye_after_hup_ms": r["goodbye_after_restart_ms"],
            "back_after_hup_ms": r["back_after_restart_ms"],
            # viewers back per 0.5 s from the HUP: [[from_s, count], ...]
            "back_per_half_second": sorted(
                [int(b) / 1000, c] for b, c in (r.get("back_per_half_second") or {}).items()
            ),
            "snapshot_not_newer": r["not_newer"],
            "errors": r["errors"],
        }

    stats = {
        "phase": tag,
        "n": n,
        "split": split,
        "load_before": [round(x, 2) for x in load],
        "ramp_s": round(ramp_s, 2),
        "rate": args.rate,
        "workers_before": workers_before,
        "workers_after": workers_after,
        "workers_born_after_hup_s": born,
        "workers_gone_after_hup_s": gone,
        **{k: v for k, v in drive.items() if k != "submit_ms"},
        # from the HUP until the check found every viewer back on the last seq (after the changes)
        "settled_after_hup_s": round(t_end - hup, 2),
        "steady": steady,
        "restart": restarted,
        "reconnects": outages(both, n),
        "reconnects_by_transport": {m: outages(r, split[m]) for m, r in per_mode.items()},
        "seq_watch_reconnects": seq_reconnects,
        "answers_lost": driver.answers_lost,
        "last_commit_seq": last_seq,
        **check,
        "status_final": settled,
        "final": {
            m: {"viewers": split[m], "open": r["open_at_end"], "on_final_seq": r["open_on_final_seq"]}
            for m, r in per_mode.items()
        },
        "all_on_final_seq": both["open_on_final_seq"] == n,
        "server_log": server_log,
        "cpu_per_second": series,
        "client": {m: {k: v for k, v in r.items() if k != "windows"} for m, r in per_mode.items()},
    }
    report_restart(stats)
    return stats


def report_restart(s: dict[str, Any]) -> None:
    r, st, rs = s["reconnects"], s["steady"], s["restart"]
    rc = r["reconnect_ms"]
    log(
        f"{s['phase']}: {r['back']}/{s['n']} viewers reconnected ({r['sent_away']} sent away, "
        f"{r['sent_away_twice_or_more']} more than once, {r['away_at_end']} still away); reconnect ms p50 "
        f"{rc.get('p50')} p95 {rc.get('p95')} max {rc.get('max')}; goodbyes {r['goodbyes']}; the last back "
        f"{r['back_after_hup_ms'].get('max')} ms after the HUP"
    )
    for name, w in (("steady", st), ("restart", rs)):
        b = w["behind_ms"]
        log(
            f"{s['phase']}: {name}: behind ms p50 {b.get('p50')} p95 {b.get('p95')} max {b.get('max')} over "
            f"{w['pairs']} pairs ({w['missing']} missing); server cores mean {w['server_cores_mean']} "
            f"peak 1 s {w['server_cores_peak_1s']} (at {w['server_peak_at_s']} s); {w['changes']} changes, "
            f"failures {w['failures'] or 0}, 5xx {w['http_5xx']}"
        )
    final = ", ".join(f"{m} {f['on_final_seq']}/{f['viewers']}" for m, f in s["final"].items())
    log(
        f"{s['phase']}: on the final seq {s['api_seq']}: {final}; old workers gone "
        f"{s['workers_gone_after_hup_s']} s, new born {s['workers_born_after_hup_s']} s after the HUP; "
        f"server log {s['server_log']['counts'] or 'clean'}, drained {s['server_log']['drained_per_worker']}"
    )
    others = max(st["cpu"].get("others_cores") or 0, rs["cpu"].get("others_cores") or 0)
    if others > 0.2:
        log(f"  warning: other processes used up to {others} cores meanwhile: {rs['cpu'].get('others_top')}")


RESTART_LEGEND = """
restart: the steady window (no restart: the same run's baseline), then the restart window (from the
HUP until every viewer is back on the last seq). behind: ms from a change's 200 until a viewer has a
seq >= it, over every (viewer, change) pair of the window. reconnected: viewers back (a first message
on a new connection); reconnect: ms from the goodbye (close 1012, SSE reconnect) to that message.
srv: gunicorn master + workers in cores, the window's mean and its busiest second; cli: the viewers.
failed/5xx: the driver's requests that failed / were answered 5xx. others: unrelated processes alive
at the window's end; busy %: the whole machine (2 cores = 100), which also sees processes that came
and went within the window."""


def aligned(rows: list[tuple[str, ...]]) -> str:
    """Rows of cells as a text table, each column right-aligned to its widest cell."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows)


def restart_table(phases: list[dict[str, Any]]) -> str:
    head = (
        "phase",
        "window",
        "changes/s",
        "behind p50",
        "p95",
        "max",
        "missing",
        "reconnected",
        "reconnect p50",
        "p95",
        "max",
        "srv mean",
        "srv peak 1s",
        "cli mean",
        "failed/5xx",
        "final",
        "others",
        "busy %",
    )
    rows = [head]
    for s in phases:
        for name in ("steady", "restart"):
            w = s[name]
            b = w["behind_ms"]
            r = s["reconnects"]
            rc = r["reconnect_ms"] if name == "restart" else {}
            final = (
                "yes"
                if s["all_on_final_seq"]
                else "NO " + "/".join(str(f["on_final_seq"]) for f in s["final"].values())
            )
            rows.append(
                (
                    s["phase"],
                    name,
                    str(w["changes_per_s"]),
                    str(b.get("p50")),
                    str(b.get("p95")),
                    str(b.get("max")),
                    str(w["missing"]),
                    f"{r['back']}/{s['n']}" if name == "restart" else "-",
                    str(rc.get("p50", "-")),
                    str(rc.get("p95", "-")),
                    str(rc.get("max", "-")),
                    str(w["server_cores_mean"]),
                    str(w["server_cores_peak_1s"]),
                    str(w["cpu"].get("client_cores")),
                    f"{sum(w['failures'].values())}/{w['http_5xx']}",
                    final if name == "restart" else "-",
                    str(w["cpu"].get("others_cores")),
                    str(w["cpu"].get("machine_busy_pct")),
                )
            )
    return aligned(rows)


# ------------------------------------------------------------------------------------------------
# several boards (SPEC §14): K boards × N viewers, changes on one board only


def board_slugs(k: int) -> list[str]:
    return [f"live-{i}" for i in range(k)]


def board_specs(args: argparse.Namespace) -> list[dict[str, Any]]:
    periods = [x for x in args.board_periods.split(",") if x]
    catalog = {"complete_task": {"points": 10, "cooldown_seconds": 0, "max_per_hour": 0}}
    return [
        {
            "slug": slug,
            "title": f"Live bench {slug}",
            "periods": periods,
            "timezone": "UTC",
            "catalog": catalog,
        }
        for slug in board_slugs(args.boards)
    ]


def wait_for(what: str, check: Any, timeout: float, every: float = 0.2) -> Any:
    """Poll `check()` until it returns something true; that value (or the last one, with a warning)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            if not got:
                log(f"warning: {what}: not reached within {timeout:.0f}s")
            return got
        time.sleep(every)


def boards_phase(
    k: int, n: int, args: argparse.Namespace, driver: Driver, run_dir: Path, suffix: str = ""
) -> dict[str, Any]:
    """K boards' all-time streams with N WebSocket viewers each (each board in its own Node
    process(es)); then an idle window of --duration seconds; then --rate changes a second for
    --duration seconds on the first board only (the driver's).

    The per-worker CPU of the two windows gives what a change costs the server; the other boards'
    viewers count every message they receive (nothing but the snapshot, if a change on one board
    costs the viewers of every other board nothing)."""
    tag = f"boards-{k}x{n}{suffix}"
    slugs = board_slugs(k)
    assert driver.board == slugs[0]
    port = free_port()
    cmd = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", *NO_CTL, "wsgi:app"]
    server = Server(
        "app", cmd, app_env(args, port), port, args.workers, "/readyz", run_dir / f"{tag}-server.log"
    )
    groups: list[ViewerGroup] = []
    try:
        driver.attach(port)
        # warm both workers up (64 viewers come and go), as the other phases do
        base_sockets = sum(server.worker_sockets().values())
        warm = ViewerGroup(
            viewer_cfg("ws", port, 64, args, board=slugs[0]),
            args.client_procs,
            run_dir / f"{tag}-warmup-client.log",
        )
        warm.expect_ready(60)
        warm.finish([], -1)
        wait_for(
            "the warm-up connections closed",
            lambda: sum(server.worker_sockets().values()) <= base_sockets,
            15,
        )
        rss0 = server.worker_rss_kb()
        sockets0 = server.worker_sockets()
        log(f"{tag}: connecting {n} ws viewers to each of {', '.join(slugs)}")
        t0 = time.monotonic()
        for slug in slugs:
            group = ViewerGroup(
                viewer_cfg("ws", port, n, args, board=slug),
                args.client_procs,
                run_dir / f"{tag}-{slug}-client.log",
            )
            groups.append(group)
            group.expect_ready(120 + n / 20)
        ramp_s = time.monotonic() - t0

        def statuses() -> list[dict[str, Any]]:
            return [g.status() for g in groups]

        held = (
            wait_for(
                "every viewer held and on its snapshot",
                lambda: (lambda st: st if all(x["with_snapshot"] == x["open"] == n for x in st) else None)(
                    statuses()
                ),
                30,
            )
            or statuses()
        )
        rss1 = server.worker_rss_kb()
        sockets1 = server.worker_sockets()
        workers = server.workers()
        rp = redis_pid()
        cpu = CpuWindow(
            {
                "server": [server.proc.pid, *workers],
                **{f"worker_{pid}": [pid] for pid in workers},
                "client_changed": groups[0].pids,
                "client_others": [pid for g in groups[1:] for pid in g.pids],
                "postgres": lambda: pids_named("postgres"),
                "redis": [rp] if rp else [],
                "driver": [os.getpid()],
            }
        )
        log(
            f"{tag}: {sum(x['open'] for x in held)}/{k * n} held in {ramp_s:.1f}s; "
            f"idle window {args.duration:.0f}s (no changes)"
        )
        before_idle = statuses()
        cpu.start()
        time.sleep(args.duration)  # the idle window itself: what held viewers cost with no change
        idle_cpu = cpu.stop()
        before_change = statuses()
        log(f"{tag}: driving {args.rate}/s for {args.duration:.0f}s on {slugs[0]} only")
        groups[0].mark()
        cpu.start()
        drive = driver.drive(args.duration, args.rate)
        commits = drive.pop("commits")
        last_seq = max((c[0] for c in commits), default=0)
        settled = settle(groups[0], last_seq, 15)
        change_cpu = cpu.stop()
        after_change = statuses()
        check = driver.check_model()
        finals = [check["api_seq"]]
        assert driver.api is not None
        for slug in slugs[1:]:
            status, body = driver.api.call("GET", f"/api/v1/boards/{slug}/leaderboard?period=all&limit=10")
            finals.append(body["seq"] if status == 200 else -1)
        results = [g.finish(commits if i == 0 else [], finals[i]) for i, g in enumerate(groups)]
        groups = []
        driver.detach()
    finally:
        for g in groups:
            g.kill()
        driver.detach()
        server.stop()

    changes = len(commits)

    def per_change_ms(name: str) -> float | None:
        """CPU a change cost `name` beyond holding the viewers: change window − idle window (as
        rates: the windows differ by the settle time), over the changes."""
        busy, idle = change_cpu.get(f"{name}_cores"), idle_cpu.get(f"{name}_cores")
        if busy is None or idle is None or not changes:
            return None
        return round((busy - idle) * change_cpu["wall_s"] / changes * 1000, 3)

    def messages(states: list[dict[str, Any]], which: slice) -> int:
        return sum(x["messages"] for x in states[which])

    others = slice(1, None)
    per_board = []
    for slug, res, final in zip(slugs, results, finals, strict=True):
        per_board.append(
            {
                "board": slug,
                "n": n,
                "open_at_end": res["open_at_end"],
                # the changed board: every viewer on the seq of the final GET. The others: their seq
                # is their snapshot's; the GET may answer a newer one (a stream's first index
                # rebuild counts a seq, and leaderboard_update goes out only when the top 10
                # changed, SPEC §7), so that count is for information only
                "on_final_seq": res["open_on_final_seq"],
                "final_seq": final,
                "last_seqs": res["last_seq_histogram"],
                "messages": res["messages"],
                "messages_beyond_snapshot": res["messages"] - res["opened"],
                "stale": res["stale"],
                "invalid": res["invalid"],
                "checked": res["checked"],
            }
        )
    stats = {
        "phase": tag,
        "boards": k,
        "n_per_board": n,
        "changed_board": slugs[0],
        "ramp_s": round(ramp_s, 2),
        "held_per_worker": {str(p): sockets1.get(p, 0) - sockets0.get(p, 0) for p in sockets1},
        "kb_per_connection": round(
            (sum(rss1.values()) - sum(rss0.values())) / max(1, sum(x["open"] for x in held)), 2
        ),
        **drive,
        "last_commit_seq": last_seq,
        **check,
        "status_final_changed": settled,
        "cpu_idle": idle_cpu,
        "cpu_change": change_cpu,
        "workers": workers,
        "per_change_cpu_ms": {
            name: per_change_ms(name)
            for name in ["server", *(f"worker_{pid}" for pid in workers), "client_changed", "client_others"]
        },
        "other_boards": {
            "viewers": (k - 1) * n,
            "messages_idle_window": messages(before_change, others) - messages(before_idle, others),
            "messages_change_window": messages(after_change, others) - messages(before_change, others),
            "messages_beyond_snapshot": sum(b["messages_beyond_snapshot"] for b in per_board[1:]),
            "with_snapshot": sum(x["with_snapshot"] for x in after_change[1:]),
            "open": sum(x["open"] for x in after_change[1:]),
        },
        "changed_board_messages_change_window": messages(after_change, slice(0, 1))
        - messages(before_change, slice(0, 1)),
        "per_board": per_board,
        "client": results[0],
    }
    report_boards_phase(stats)
    return stats


def report_boards_phase(s: dict[str, Any]) -> None:
    c, lat, o = s["client"], s["client"]["latency_ms"], s["other_boards"]
    ci, cc = s["cpu_idle"], s["cpu_change"]
    workers = [f"worker_{p}" for p in s["workers"]]
    log(
        f"{s['phase']}: changed board {s['changed_board']}: on final seq "
        f"{c['open_on_final_seq']}/{s['n_per_board']}; latency ms p50 {lat.get('p50')} p95 {lat.get('p95')} "
        f"p99 {lat.get('p99')} over {c['samples']} pairs, {c['missing']} missing; "
        f"{s['changes']} changes at {s['achieved_rate']}/s"
    )
    log(
        f"{s['phase']}: per-worker cores idle {[ci.get(w + '_cores') for w in workers]} → changing "
        f"{[cc.get(w + '_cores') for w in workers]}; server CPU per change "
        f"{s['per_change_cpu_ms']['server']} ms"
    )
    if s["boards"] > 1:
        log(
            f"{s['phase']}: other boards' {o['viewers']} viewers: {o['messages_change_window']} messages "
            f"during the changes, {o['messages_idle_window']} while idle, "
            f"{o['messages_beyond_snapshot']} beyond their snapshot; {o['with_snapshot']}/{o['viewers']} "
            f"hold their snapshot, {o['open']} open; their client "
            f"{ci.get('client_others_cores')} → {cc.get('client_others_cores')} cores"
        )
    if max(ci.get("others_cores") or 0, cc.get("others_cores") or 0) > 0.2:
        log(
            f"  warning: other processes used {ci.get('others_cores')} / {cc.get('others_cores')} cores "
            f"(idle / changes): {cc.get('others_top')}"
        )


def median(values: list[float]) -> float | None:
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else round((v[mid - 1] + v[mid]) / 2, 3)


def boards_summary(singles: list[dict[str, Any]], multis: list[dict[str, Any]]) -> dict[str, Any]:
    """The K-board runs against the single-board runs of the same invocation (with several rounds,
    the median of each side's runs)."""
    p95_1 = median([s["client"]["latency_ms"].get("p95") for s in singles])
    p95_k = median([s["client"]["latency_ms"].get("p95") for s in multis])
    cost_1 = median([s["per_change_cpu_ms"]["server"] for s in singles])
    cost_k = median([s["per_change_cpu_ms"]["server"] for s in multis])
    # every K-board run's other viewers, added up
    o = {
        key: sum(s["other_boards"][key] for s in multis)
        for key in ("messages_change_window", "messages_beyond_snapshot")
    }
    o["viewers"] = multis[0]["other_boards"]["viewers"]
    return {
        "rounds": len(multis),
        "p95_single_each_ms": [s["client"]["latency_ms"].get("p95") for s in singles],
        "p95_changed_board_each_ms": [s["client"]["latency_ms"].get("p95") for s in multis],
        "p95_single_ms": p95_1,
        "p95_changed_board_ms": p95_k,
        "p95_ratio": round(p95_k / p95_1, 3) if p95_1 and p95_k is not None else None,
        "p95_within_1.2x": bool(p95_1 and p95_k is not None and p95_k <= 1.2 * p95_1),
        "server_cpu_per_change_single_ms": cost_1,
        "server_cpu_per_change_multi_ms": cost_k,
        # what the other boards' viewers added to each change (≈ 0 within the noise)
        "server_cpu_per_change_added_ms": round(cost_k - cost_1, 3)
        if cost_1 is not None and cost_k
        else None,
        "server_idle_cores_single": median([s["cpu_idle"].get("server_cores") for s in singles]),
        "server_idle_cores_multi": median([s["cpu_idle"].get("server_cores") for s in multis]),
        "other_viewers": o["viewers"],
        "other_messages_change_window": o["messages_change_window"],
        "other_messages_beyond_snapshot": o["messages_beyond_snapshot"],
        "other_isolated": o["messages_change_window"] == 0 and o["messages_beyond_snapshot"] == 0,
    }


def boards_table(phases: list[dict[str, Any]]) -> str:
    head = (
        "phase",
        "viewers",
        "changes/s",
        "p50",
        "p95",
        "p99",
        "final",
        "srv idle",
        "srv chg",
        "per worker idle → chg",
        "ms/chg",
        "others' msgs",
        "others cli",
        "machine others",
    )
    rows = [head]
    for s in phases:
        c, lat, ci, cc = s["client"], s["client"]["latency_ms"], s["cpu_idle"], s["cpu_change"]
        ws = [f"worker_{p}_cores" for p in s["workers"]]
        o = s["other_boards"]
        rows.append(
            (
                s["phase"],
                f"{s['boards']}×{s['n_per_board']}",
                str(s["achieved_rate"]),
                str(lat.get("p50")),
                str(lat.get("p95")),
                str(lat.get("p99")),
                "yes" if c["open_on_final_seq"] == s["n_per_board"] else f"NO {c['open_on_final_seq']}",
                str(ci.get("server_cores")),
                str(cc.get("server_cores")),
                " ".join(f"{ci.get(w)}→{cc.get(w)}" for w in ws),
                str(s["per_change_cpu_ms"]["server"]),
                "-"
                if s["boards"] == 1
                else f"{o['messages_change_window']} (+{o['messages_beyond_snapshot']})",
                "-"
                if s["boards"] == 1
                else f"{ci.get('client_others_cores')}→{cc.get('client_others_cores')}",
                f"{ci.get('others_cores')}/{cc.get('others_cores')}",
            )
        )
    return aligned(rows)


def ensure_sio_venv() -> None:
    py = SIO_VENV / "bin" / "python"
    ok = (
        py.exists()
        and subprocess.run(
            [str(py), "-c", "import flask_socketio, gevent, packaging, simple_websocket, redis"],
            capture_output=True,
        ).returncode
        == 0
    )
    if not ok:
        log(f"creating the baseline's scratch venv {SIO_VENV}")
        run([sys.executable if not shutil.which("python3") else "python3", "-m", "venv", str(SIO_VENV)])
        run([str(SIO_VENV / "bin" / "pip"), "install", "-q", *SIO_PACKAGES], timeout=900)


def sio_phase(
    mode: str,
    n: int,
    args: argparse.Namespace,
    message: dict[str, Any],
    run_dir: Path,
    first_seq: int,
    deflate: bool = True,
) -> dict[str, Any]:
    tag = f"{mode}-{n}" if deflate else f"{mode}-nodeflate-{n}"
    port = free_port()
    env = dict(os.environ)
    env.update(
        SIO_MESSAGE_QUEUE=f"redis://{REDIS_HOST}:{REDIS_PORT}/{args.redis_db}",
        SIO_CHANNEL=f"{args.namespace}-sio",
        PYTHONUNBUFFERED="1",
    )
    cmd = [
        str(SIO_VENV / "bin" / "gunicorn"),
        "-k",
        "gevent",
        "-w",
        str(args.sio_workers),
        "--worker-connections",
        str(args.worker_connections),
        "--graceful-timeout",
        str(args.graceful_timeout),
        *NO_CTL,
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(BENCH),
        "live_socketio_app:app",
    ]
    server = Server("socketio", cmd, env, port, args.sio_workers, "/healthz", run_dir / f"{tag}-server.log")
    viewers = None
    msg_path = run_dir / "socketio-message.json"
    msg_path.write_text(json.dumps(message))
    commits_path = run_dir / f"{tag}-commits.json"
    try:
        viewers, idle = idle_viewers(server, mode, n, args, run_dir, tag, deflate)
        workers = server.workers()
        rp = redis_pid()
        emitter_cmd = [
            str(SIO_VENV / "bin" / "python"),
            str(BENCH / "live_socketio_app.py"),
            "emit",
            "--rate",
            str(args.rate),
            "--duration",
            str(args.duration),
            "--message",
            str(msg_path),
            "--first-seq",
            str(first_seq),
            "--out",
            str(commits_path),
        ]
        log(f"{tag}: emitting {args.rate}/s for {args.duration}s")
        emitter = CHILDREN.start(emitter_cmd, env=env, log=run_dir / f"{tag}-emitter.log")
        cpu = CpuWindow(
            {"server": [server.proc.pid, *workers], "client": viewers.pids, "redis": [rp] if rp else []}
        )
        viewers.mark()  # the clients' event-loop delay is measured over the window
        cpu.start()
        emitter.wait(args.duration + 60)
        commits = json.loads(commits_path.read_text())
        last_seq = int(commits[-1][0]) if commits else first_seq
        st = settle(viewers, last_seq, 15)
        cpu_window = cpu.stop()
        profile = None
        if args.profile and n >= args.profile_min_n:
            log(f"{tag}: profiling the workers for {args.profile}s under the same load (not measured)")
            spies = profile_workers(workers, args.profile, run_dir, tag)
            prof_commits = run_dir / f"{tag}-profile-commits.json"
            cmd2 = [*emitter_cmd]
            cmd2[cmd2.index("--duration") + 1] = str(args.profile)
            cmd2[cmd2.index("--first-seq") + 1] = str(last_seq + 1)
            cmd2[cmd2.index("--out") + 1] = str(prof_commits)
            CHILDREN.start(cmd2, env=env, log=run_dir / f"{tag}-emitter.log").wait(args.profile + 60)
            profile = collect_profile(spies, workers, args.profile, run_dir, tag)
            last_seq = int(json.loads(prof_commits.read_text())[-1][0])
            st = settle(viewers, last_seq, 15)
        result = viewers.finish(commits, last_seq)
        viewers = None
        setup = (
            f"Flask-SocketIO, gunicorn -k gevent -w {args.sio_workers}, websocket only, "
            f"Redis message queue, viewers {'offer' if deflate else 'do not offer'} permessage-deflate"
        )
        return baseline_stats(
            tag, mode, n, idle, commits, args, cpu_window, last_seq, st, result, profile, setup
        )
    finally:
        if viewers is not None:
            viewers.kill()
        server.stop()


def baseline_stats(
    tag: str,
    transport: str,
    n: int,
    idle: dict[str, Any],
    commits: list[Any],
    args: argparse.Namespace,
    cpu_window: dict[str, Any],
    last_seq: int,
    status_final: dict[str, Any],
    result: dict[str, Any],
    profile: dict[str, Any] | None,
    setup: str,
) -> dict[str, Any]:
    """A baseline phase's record (Flask-SocketIO or the floor), reported as it is made."""
    stats = {
        "phase": tag,
        "transport": transport,
        "n": n,
        **idle,
        "changes": len(commits),
        "achieved_rate": round(len(commits) / args.duration, 2),
        "cpu": cpu_window,
        "last_commit_seq": last_seq,
        "api_seq": last_seq,
        "status_final": status_final,
        "client": result,
        "profile": profile,
        "setup": setup,
    }
    report_phase(stats)
    return stats


class NodeServer(Server):
    """A single Node process (the floor): it is its own worker."""

    def workers(self) -> list[int]:
        return [self.proc.pid]


def floor_phase(
    n: int, args: argparse.Namespace, message: dict[str, Any], run_dir: Path, first_seq: int
) -> dict[str, Any]:
    """The machine's floor: bench/live/floor.mjs broadcasting the same bytes to N viewers."""
    tag = f"floor-{n}"
    port = free_port()
    msg_path = run_dir / "floor-message.json"
    msg_path.write_text(json.dumps(message))
    cmd = ["node", str(NODE_DIR / "floor.mjs"), str(port), str(msg_path)]
    server = NodeServer("floor", cmd, dict(os.environ), port, 1, "/healthz", run_dir / f"{tag}-server.log")
    viewers = None
    commits_path = run_dir / f"{tag}-commits.json"
    try:
        viewers, idle = idle_viewers(server, "ws", n, args, run_dir, tag, True)
        cpu = CpuWindow({"server": [server.proc.pid], "client": viewers.pids})
        viewers.mark()
        cpu.start()
        log(f"{tag}: broadcasting {args.rate}/s for {args.duration}s")
        query = f"rate={args.rate}&duration={args.duration}&first={first_seq}&out={commits_path}"
        with urllib.request.urlopen(  # noqa: S310 (127.0.0.1)
            f"http://127.0.0.1:{port}/run?{query}", timeout=args.duration + 120
        ) as r:
            r.read()
        commits = json.loads(commits_path.read_text())
        last_seq = int(commits[-1][0]) if commits else first_seq
        st = settle(viewers, last_seq, 15)
        cpu_window = cpu.stop()
        result = viewers.finish(commits, last_seq)
        viewers = None
        setup = "Node + ws, one process, the same bytes to every viewer; latency from each broadcast's start"
        return baseline_stats(
            tag, "floor", n, idle, commits, args, cpu_window, last_seq, st, result, None, setup
        )
    finally:
        if viewers is not None:
            viewers.kill()
        server.stop()


# ------------------------------------------------------------------------------------------------
# reporting


def report_phase(s: dict[str, Any]) -> None:
    c = s["client"]
    lat = c["latency_ms"]
    log(
        f"{s['phase']}: held {c['open_at_end']}/{s['n']}, on final seq {c['on_final_seq']}/{s['n']} "
        f"(seq {c['final_seq']}); latency ms p50 {lat.get('p50')} p95 {lat.get('p95')} p99 {lat.get('p99')} "
        f"max {lat.get('max')} over {c['samples']} (connection, change) pairs, {c['missing']} missing; "
        f"server {s['cpu'].get('server_cores')} cores, client {s['cpu'].get('client_cores')} cores"
    )
    if (s["cpu"].get("others_cores") or 0) > 0.2:
        log(
            f"  warning: other processes used {s['cpu']['others_cores']} cores meanwhile: "
            f"{s['cpu']['others_top']}"
        )


def table(phases: list[dict[str, Any]]) -> str:
    head = (
        "phase",
        "N",
        "held",
        "final",
        "p50",
        "p95",
        "p99",
        "max",
        "send p95",
        "event p95",
        "KB/conn",
        "per worker",
        "srv cores",
        "cli cores",
        "pg+redis",
        "others",
        "msg B",
    )
    rows = [head]
    for s in phases:
        c = s["client"]
        lat, ls, le = c["latency_ms"], c["latency_from_send_ms"], c.get("latency_from_event_ms", {})
        final = c["open_on_final_seq"] == s["n"] and c["open_at_end"] == s["n"]
        cpu = s["cpu"]
        rows.append(
            (
                s["phase"],
                str(s["n"]),
                str(c["open_at_end"]),
                "yes" if final else f"NO {c['on_final_seq']}",
                str(lat.get("p50")),
                str(lat.get("p95")),
                str(lat.get("p99")),
                str(lat.get("max")),
                str(ls.get("p95")),
                str(le.get("p95", "-")),
                str(s["kb_per_connection"]),
                "/".join(str(v) for v in s["held_per_worker"].values()),
                str(cpu.get("server_cores")),
                str(cpu.get("client_cores")),
                str(round((cpu.get("postgres_cores") or 0) + (cpu.get("redis_cores") or 0), 2)),
                str(cpu.get("others_cores")),
                str(c["sample_bytes"]),
            )
        )
    return aligned(rows)


def git_state() -> dict[str, Any]:
    """The commit measured, and the files that differ from it (the server runs this tree)."""

    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"head": git("rev-parse", "HEAD").strip(), "changed": changed}


def wait_quiet(limit: float) -> None:
    """Wait while another benchmark (bench/run.py, another bench/live.py) is running, so the
    figures don't disturb each other."""
    deadline = time.monotonic() + limit
    announced = False
    us = set(ancestors(os.getpid()))  # this run, and the shells and wrappers that name it
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["pgrep", "-f", r"bench/(run|live)\.py"], capture_output=True, text=True
        ).stdout.split()
        busy = [p for p in found if int(p) not in us]
        if not busy:
            return
        if not announced:
            pids = " ".join(busy)
            log(f"another benchmark is running (pids {pids}); waiting up to {limit:.0f}s for it to end")
            announced = True
        time.sleep(5)
    log("warning: another benchmark still running; measuring anyway")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--viewers", default=None, help="comma-separated N (default 1000,5000; 2000 with --restart)"
    )
    ap.add_argument(
        "--transport",
        default=None,
        choices=["ws", "sse", "both", "none"],
        help="main's viewers (default both; none with --boards); with --restart, both = half and half "
        "in one run",
    )
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of board changes per phase")
    ap.add_argument(
        "--rate",
        type=float,
        default=None,
        help="board changes per second (default 10; 5 with --boards: changes 200 ms apart never wait for "
        "a coalescing window, so the latency compared is the path itself)",
    )
    ap.add_argument("--players", type=int, default=30)
    ap.add_argument(
        "--socketio",
        default=None,
        help="baseline client(s): sioraw, sio, both or none (default sioraw; none with --boards)",
    )
    ap.add_argument("--socketio-viewers", default=None, help="N for the baseline (default: --viewers)")
    ap.add_argument(
        "--floor",
        default=None,
        choices=["on", "off"],
        help="also measure the machine's floor: a bare Node ws broadcaster, same viewers (default on; "
        "off with --boards)",
    )
    ap.add_argument("--sio-workers", type=int, default=2)
    ap.add_argument(
        "--sio-deflate",
        default="on",
        help="baseline viewers offer permessage-deflate (on, as browsers do), not (off), or on,off",
    )
    ap.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY")
    ap.add_argument("--worker-connections", type=int, default=20000)
    ap.add_argument("--ws-limit", type=int, default=50000, help="WS_CONNECTION_LIMIT per process")
    ap.add_argument("--graceful-timeout", type=int, default=30)
    ap.add_argument("--connect-concurrency", type=int, default=200, help="handshakes in flight")
    ap.add_argument(
        "--client-procs",
        type=int,
        default=1,
        help="Node processes the N viewers are split over (default 1; they share the machine's cores)",
    )
    ap.add_argument(
        "--parse",
        default="seq",
        choices=["seq", "full"],
        help="seq: the client finds seq by a byte scan and JSON-checks a sample; full: parse all",
    )
    ap.add_argument("--settle", type=float, default=3.0, help="seconds between connecting and measuring RSS")
    ap.add_argument(
        "--profile", type=float, default=0, help="seconds of py-spy on the workers after each phase"
    )
    ap.add_argument("--profile-min-n", type=int, default=0, help="profile only phases with at least this N")
    ap.add_argument(
        "--min-interval-ms",
        type=int,
        default=None,
        help="LIVE_MIN_INTERVAL_MS for the app (default: the app's own, 100)",
    )
    ap.add_argument(
        "--boards",
        type=int,
        default=0,
        help="K > 1: the boards mode (SPEC §14): a single board with --board-viewers WebSocket viewers, "
        "then K boards with as many each, changes on one board only, each run with an idle window and a "
        "change window of --duration s (default off)",
    )
    ap.add_argument("--board-viewers", type=int, default=1000, help="viewers per board (default 1000)")
    ap.add_argument(
        "--board-rounds",
        type=int,
        default=1,
        help="pairs of (single board, K boards) runs, in alternating order; the verdict compares the "
        "medians (default 1)",
    )
    ap.add_argument(
        "--board-periods",
        default="daily,weekly,monthly",
        help="periods each board keeps (every change writes all-time + these; default daily,weekly,monthly)",
    )
    ap.add_argument(
        "--restart",
        action="store_true",
        help="the restart mode (SPEC §16): N viewers that reconnect as static/app.js does, --rate changes a "
        "second for a steady window of --duration s, then kill -HUP to gunicorn (every worker replaced) "
        "and --duration s more; reconnect delays, time behind, CPU per second, against the steady window",
    )
    ap.add_argument(
        "--restart-settle",
        type=float,
        default=60.0,
        help="with --restart: seconds to wait after the changes for every viewer to be back on the last seq",
    )
    ap.add_argument("--db", default="livebench")
    ap.add_argument("--redis-db", type=int, default=13)
    ap.add_argument("--namespace", default="livebench")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=3600,
        help="seconds to wait for a running bench/run.py or other bench/live.py to end before each phase",
    )
    args = ap.parse_args()
    if args.boards == 1 or args.boards < 0:
        ap.error("--boards: at least 2 (the single-board baseline runs anyway)")
    if args.boards and args.restart:
        ap.error("--boards and --restart: one mode at a time")
    if args.rate is None:
        args.rate = 5.0 if args.boards else 10.0
    if args.viewers is None:
        args.viewers = "2000" if args.restart else "1000,5000"
    defaults = {"transport": "both", "socketio": "sioraw", "floor": "on"}
    if args.boards:  # the boards mode: main's phases, the floor and the baseline only when asked for
        defaults = {"transport": "none", "socketio": "none", "floor": "off"}
    if args.restart:  # the restart mode: --transport is its viewers' split; no floor, no baseline
        defaults = {"transport": "both", "socketio": "none", "floor": "off"}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.restart and args.transport == "none":
        ap.error("--restart needs viewers: --transport ws, sse or both")
    args.secret_key = "livebench-" + secrets.token_urlsafe(32)
    signal.signal(signal.SIGTERM, on_signal)

    viewers_n = [int(x) for x in args.viewers.split(",") if x]
    sio_n = [int(x) for x in (args.socketio_viewers or args.viewers).split(",") if x]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:  # inherited by the server and the clients
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):  # no CAP_SYS_RESOURCE: up to the hard limit only
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if max(viewers_n + sio_n) + 1000 > nofile:
        log(
            f"warning: ulimit -n is {nofile}; {max(viewers_n + sio_n)} viewers in one client process "
            "may not fit"
        )
    modes = {"both": ["ws", "sse"], "none": []}.get(args.transport, [args.transport])
    if args.restart:
        modes = []  # --transport is the restart phase's split
    sio_modes = {"both": ["sioraw", "sio"], "none": []}.get(args.socketio, [args.socketio])
    sio_deflate = [{"on": True, "off": False}[x] for x in args.sio_deflate.split(",")]
    OUT.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = OUT / f"live-{stamp}"
    run_dir.mkdir()
    if not (NODE_DIR / "node_modules" / "ws").exists():
        log("installing the viewers' npm packages (bench/live)")
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR)
    if sio_modes:
        ensure_sio_venv()

    results: dict[str, Any] = {
        "started": stamp,
        "args": {k: v for k, v in vars(args).items() if k != "secret_key"},
        "machine": {
            "cpus": os.cpu_count(),
            "nofile": nofile,
            "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
        },
        "code": git_state(),
        "phases": [],
    }
    out_json = OUT / f"live-{stamp}.json"
    try:
        log(
            f"fresh database {args.db}, migrations; "
            f"Redis DB {args.redis_db} namespace {args.namespace} cleared"
        )
        recreate_db(args.db)
        clear_redis(args.redis_db, args.namespace)
        run([str(VENV_BIN / "flask"), "db", "upgrade"], env=app_env(args, 0))
        driver = Driver(args)
        board_driver: Driver | None = None

        # players: registered and ranked once, on a server of their own
        port = free_port()
        server = Server(
            "app",
            [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", *NO_CTL, "wsgi:app"],
            app_env(args, port),
            port,
            args.workers,
            "/readyz",
            run_dir / "setup-server.log",
        )
        try:
            driver.attach(port, watch=False)
            driver.register(args.players)
            log(f"{args.players} players registered and ranked; board seq {driver.check_model()['api_seq']}")
            if args.boards:
                specs = board_specs(args)
                create_boards(f"http://127.0.0.1:{port}", args.db, specs)
                board_driver = driver.on_board(specs[0]["slug"])
                board_driver.attach(port, watch=False)
                board_driver.seed()
                log(
                    f"boards {', '.join(b['slug'] for b in specs)} created (periods "
                    f"{args.board_periods or 'none'}); the players ranked on {board_driver.board}, "
                    f"seq {board_driver.check_model()['api_seq']}"
                )
                board_driver.detach()
        finally:
            driver.detach()
            server.stop()

        sample: str | None = None
        for n in viewers_n:
            for mode in modes:
                wait_quiet(args.wait_quiet)
                stats = app_phase(mode, n, args, driver, run_dir)
                sample = stats.pop("sample") or sample
                results["phases"].append(stats)
                out_json.write_text(json.dumps(results, indent=1))
        if (sio_modes or args.floor == "on") and sample is None:
            saved = (args.duration, args.profile)  # no app phase ran: capture a real update
            args.duration, args.profile = 3, 0
            sample = app_phase("ws", 1, args, driver, run_dir).pop("sample")
            args.duration, args.profile = saved
        if args.floor == "on":
            for n in viewers_n:
                wait_quiet(args.wait_quiet)
                stats = floor_phase(n, args, json.loads(sample), run_dir, 1)
                results["phases"].append(stats)
                out_json.write_text(json.dumps(results, indent=1))
        if sio_modes:
            message = json.loads(sample)
            seq = 1
            for n in sio_n:
                for mode in sio_modes:
                    for deflate in sio_deflate:
                        wait_quiet(args.wait_quiet)
                        stats = sio_phase(mode, n, args, message, run_dir, seq, deflate)
                        seq = stats["last_commit_seq"] + 1
                        results["phases"].append(stats)
                        out_json.write_text(json.dumps(results, indent=1))
        if board_driver is not None:
            runs = []
            # the single board first (the same invocation's baseline); more rounds alternate the
            # order (1, K, K, 1, 1, K, ...) so that a drifting machine weighs on both sides alike
            for r in range(args.board_rounds):
                suffix = f"-r{r + 1}" if args.board_rounds > 1 else ""
                for k in (1, args.boards) if r % 2 == 0 else (args.boards, 1):
                    wait_quiet(args.wait_quiet)
                    runs.append(boards_phase(k, args.board_viewers, args, board_driver, run_dir, suffix))
                    results["boards"] = {"phases": runs}
                    out_json.write_text(json.dumps(results, indent=1))
            results["boards"]["summary"] = boards_summary(
                [s for s in runs if s["boards"] == 1], [s for s in runs if s["boards"] > 1]
            )
        if args.restart:
            results["restart"] = {"phases": []}
            for n in viewers_n:
                wait_quiet(args.wait_quiet)
                results["restart"]["phases"].append(restart_phase(n, args, driver, run_dir))
                out_json.write_text(json.dumps(results, indent=1))
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        return 130
    finally:
        out_json.write_text(json.dumps(results, indent=1))
        CHILDREN.stop_all()
        try:
            clear_redis(args.redis_db, args.namespace)
        except Exception as exc:
            log(f"warning: could not clear Redis: {exc}")
    print()
    if results["phases"]:
        print(table(results["phases"]))
    boards = results.get("boards") or {}
    if boards.get("summary"):
        b = boards["summary"]
        print(boards_table(boards["phases"]))
        within = "yes" if b["p95_within_1.2x"] else "NO"
        rounds = f" (medians of {b['rounds']} rounds)" if b["rounds"] > 1 else ""
        print(
            f"\nboards{rounds}: changed board p95 {b['p95_changed_board_ms']} ms vs "
            f"{b['p95_single_ms']} ms on a single board (same invocation): {b['p95_ratio']}x, "
            f"within 1.2x: {within}; server CPU per "
            f"change {b['server_cpu_per_change_multi_ms']} vs {b['server_cpu_per_change_single_ms']} ms "
            f"(added by the other boards' {b['other_viewers']} viewers: "
            f"{b['server_cpu_per_change_added_ms']} ms); messages to them during the changes "
            f"{b['other_messages_change_window']}, beyond their snapshot "
            f"{b['other_messages_beyond_snapshot']}"
            "\n(srv idle / srv chg: server cores in the idle and in the change window; ms/chg: server CPU "
            "per change beyond the idle window; others' msgs: what the other boards' viewers received in the "
            "change window (+ beyond their snapshot overall); machine others: cores of unrelated processes, "
            "idle/chg)"
        )
    restarts = (results.get("restart") or {}).get("phases")
    if restarts:
        print(restart_table(restarts))
        print(RESTART_LEGEND)
    print(
        f"\nlatency: ms from the 200 of the submit (Socket.IO: the emit) to receipt, over every "
        f"(connection, change) pair; 'send p95' from the request's send time. final: every client held "
        f"and on the final seq. KB/conn: worker RSS growth per idle connection."
        f"\nJSON: {out_json}\nlogs: {run_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
