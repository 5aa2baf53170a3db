"""Live Scoreboard benchmark (SPEC §12): one command, stops by itself, cleans up after itself.

    .venv/bin/python bench/run.py                      # defaults: 20 s per phase
    .venv/bin/python bench/run.py --duration 30 --write-concurrency 50 --read-concurrency 128

Phases, all against 127.0.0.1 on this machine:
  1. machine limits: pgbench running the app's score transaction on a scratch copy of the schema,
     redis-benchmark, and a hello-world Flask app (bench/hello.py) under the same gunicorn settings;
  2. the app in production mode (gunicorn gevent, PostgreSQL, Redis): register players, the write
     load (token once, then submit → next_action_token → submit …), the same players scoring on a
     board that keeps daily, weekly and monthly periods (SPEC §14) at the headline concurrency,
     a consistency check, the read load (GET /api/v1/leaderboard);
  3. a py-spy profile of the gunicorn workers under the write load (and the read load).
Prints a summary table; writes everything as JSON to bench/out/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import metrics_cost
from harness import CHILDREN, create_boards, free_port, log, on_signal, recreate_db, sql, tail

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
PG = "postgresql://postgres@127.0.0.1:5432"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
RAISED = "1000000/minute"
# the board of the board write phase: every accepted action counts in all-time and in the current
# day, ISO week and month (4 rows of board_scores, 4 rank index placements)
BOARD = {
    "slug": "bench-periods",
    "title": "Bench: daily, weekly, monthly",
    "periods": ["daily", "weekly", "monthly"],
    "timezone": "UTC",
    "catalog": {"complete_task": {"points": 10, "cooldown_seconds": 0, "max_per_hour": 0}},
}

# ------------------------------------------------------------------------------------------------
# child processes: every one in its own session, all killed on exit, error or Ctrl-C


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess:
    """A short-lived command, killed with its group if it overruns."""
    p = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
    )
    CHILDREN.procs.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        CHILDREN.stop(p)
        raise
    finally:
        if p in CHILDREN.procs:
            CHILDREN.procs.remove(p)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}\n{out[-3000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def wait_http(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode} before {url} answered; log:\n" + tail(log_path)
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (127.0.0.1 only)
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s; log:\n" + tail(log_path))


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310
        return json.loads(r.read())


def _proc_table() -> dict[int, tuple[str, int, int, int, int]]:
    """pid → (comm, ppid, uid, cpu ticks, system-mode ticks)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        ppid = int(fields[1])
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        table[pid] = (comm, ppid, uid, ticks, int(fields[12]))
    return table


def _machine_ticks() -> tuple[int, int, int]:
    """(busy, idle, steal) ticks of all CPUs; busy includes steal."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts[:8]) - idle, idle, parts[7]


class CpuWindow:
    """CPU seconds per group between start() and stop().

    Groups: each root pid given (gunicorn, client, ...) with its descendants; `postgres` (the
    server's own processes and the backends of our databases); `redis`; `other` (everything
    else, including PostgreSQL backends of other databases: another test run on the machine).
    """

    dbs: tuple[str, ...] = ()

    def __init__(self, roots: dict[str, list[int]]):
        self.roots = roots
        try:
            import pwd

            self.pg_uid = pwd.getpwnam("postgres").pw_uid
        except KeyError:
            self.pg_uid = -1

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.p0 = _proc_table()
        self.m0 = _machine_ticks()

    def _postgres_group(self, pid: int) -> str:
        """`postgres: 15/main: USER DB HOST(PORT) STATE` for a backend; aux processes have no DB."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").split()
        except OSError:
            return "postgres"
        if len(cmd) >= 5 and cmd[0] == "postgres:" and "(" in cmd[4]:
            return "postgres" if cmd[3] in self.dbs else "other"
        return "postgres"

    def stop(self) -> dict[str, Any]:
        t1 = time.monotonic()
        p1 = _proc_table()
        m1 = _machine_ticks()
        wall = t1 - self.t0
        children: dict[int, list[int]] = collections.defaultdict(list)
        for pid, (_, ppid, *_rest) in p1.items():
            children[ppid].append(pid)
        owner: dict[int, str] = {}
        for group, roots in self.roots.items():
            stack = [r for r in roots if r]
            while stack:
                pid = stack.pop()
                if pid in owner:
                    continue
                owner[pid] = group
                stack.extend(children.get(pid, []))
        groups: dict[str, float] = collections.defaultdict(float)
        system: dict[str, float] = collections.defaultdict(float)
        per_pid: dict[str, float] = {}
        others: collections.Counter[str] = collections.Counter()
        for pid, (comm, _, uid, ticks, sys_ticks) in p1.items():
            before = self.p0.get(pid)
            # the same pid before and after (its comm may change with an exec); a pid reused inside
            # the window shows fewer ticks than before: count it from zero
            same = before is not None and before[3] <= ticks
            delta = ticks - (before[3] if same else 0)
            sys_delta = sys_ticks - (before[4] if same else 0)
            if delta <= 0:
                continue
            group = owner.get(pid)
            if group is None:
                if comm == "redis-server":
                    group = "redis"
                elif uid == self.pg_uid or comm.startswith("postgres"):
                    group = self._postgres_group(pid)
                else:
                    group = "other"
            secs = delta / CLK_TCK
            groups[group] += secs
            system[group] += sys_delta / CLK_TCK
            if group in ("gunicorn", "client"):
                per_pid[f"{group}:{pid}:{comm}"] = round(secs / wall * 100, 1)
            elif group == "other":
                others[f"{pid}:{comm}"] += secs
        busy = (m1[0] - self.m0[0]) / CLK_TCK
        idle = (m1[1] - self.m0[1]) / CLK_TCK
        steal = (m1[2] - self.m0[2]) / CLK_TCK
        capacity = busy + idle
        # processes that ended inside the window (other sessions' short-lived tests, say) take their
        # counters with them: what the machine was busy with beyond the named groups is `other` too
        named = sum(v for g, v in groups.items() if g != "other")
        groups["other"] = max(groups.get("other", 0.0), busy - steal - named)
        return {
            "wall_s": round(wall, 2),
            "cores": NCPU,
            # % of one core (100 = one core busy the whole window; the machine has NCPU × 100)
            "percent_of_one_core": {g: round(s / wall * 100, 1) for g, s in sorted(groups.items())},
            "cpu_seconds": {g: round(s, 3) for g, s in sorted(groups.items())},
            "system_share_percent": {
                g: round(system[g] / s * 100, 1) for g, s in sorted(groups.items()) if s > 0
            },
            "machine_busy_percent": round(busy / capacity * 100, 1) if capacity else None,
            "steal_percent_of_one_core": round(steal / wall * 100, 1),
            "per_process_percent_of_one_core": per_pid,
            "other_top": {k: round(v / wall * 100, 1) for k, v in others.most_common(5)},
        }


def machine_busy(seconds: float = 2.0) -> float:
    """Share of the machine's CPU in use over a short sample, in %."""
    b0, i0, _ = _machine_ticks()
    time.sleep(seconds)
    b1, i1, _ = _machine_ticks()
    return (b1 - b0) / max(1, (b1 - b0) + (i1 - i0)) * 100


def wait_quiet(limit: float, max_wait: int) -> dict[str, Any]:
    """Wait (up to max_wait s) until the machine is idle enough to measure; report what it was."""
    start = time.monotonic()
    busy = machine_busy()
    said = -1e9
    while busy > limit and time.monotonic() - start < max_wait:
        if time.monotonic() - said > 30:
            log(f"machine is {busy:.0f}% busy before this phase (other processes); waiting up to {max_wait}s")
            said = time.monotonic()
        busy = machine_busy(3.0)
    if busy > limit:
        log(f"WARNING: machine still {busy:.0f}% busy; figures will be low (see 'other' in the CPU split)")
    return {
        "busy_percent_before": round(busy, 1),
        "quiet": busy <= limit,
        "waited_s": round(time.monotonic() - start, 1),
    }


# ------------------------------------------------------------------------------------------------
# the load client (node + undici) and wrk


class PgActivity:
    """Samples pg_stat_activity for one database every 50 ms in a thread: what its backends are
    doing (running, waiting on a lock, on the WAL flush, idle in a transaction while the
    application thinks, ...), as the average number of backends in each state."""

    def __init__(self, db: str, interval: float = 0.05):
        self.db = db
        self.interval = interval
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    _STATS = (
        "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_returned, tup_fetched, sessions "
        "FROM pg_stat_database WHERE datname = %s"
    )

    def _db_stats(self) -> tuple[int, ...] | None:
        try:
            sql("postgres", "SELECT pg_stat_clear_snapshot()")
            rows = sql("postgres", self._STATS, (self.db,))
            return tuple(int(x) for x in rows[0]) if rows else None
        except Exception:
            return None

    def start(self) -> None:
        self.stats0 = self._db_stats()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        q = (
            "SELECT state, coalesce(wait_event_type || ':' || wait_event, 'on CPU') FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        try:
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                while not self._stop.is_set():
                    for state, wait in conn.execute(q, (self.db,)).fetchall():
                        if state == "idle":
                            key = "idle (not in a transaction)"
                        elif state == "idle in transaction":
                            key = "idle in transaction (waiting for the client)"
                        else:
                            key = f"{state}: {wait}"
                        self.counts[key] += 1
                    self.samples += 1
                    self._stop.wait(self.interval)
        except Exception as exc:  # a diagnosis aid: never fail the run for it
            self.counts[f"sampler error: {exc}"] += 1

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        n = max(1, self.samples)
        stats1 = self._db_stats()
        delta = None
        if self.stats0 and stats1:
            names = (
                "commits",
                "rollbacks",
                "rows_inserted",
                "rows_updated",
                "rows_returned",
                "rows_fetched",
                "new_connections",
            )
            delta = {k: b - a for k, a, b in zip(names, self.stats0, stats1, strict=True)}
        return {
            "samples": self.samples,
            "avg_backends": {k: round(v / n, 2) for k, v in self.counts.most_common()},
            # pg_stat_database counters over the window (updated by backends every ~0.5-1 s)
            "db_counters": delta,
        }


def cpu_during(proc: subprocess.Popen, cpu: CpuWindow, duration: float) -> dict[str, Any]:
    """CPU over the middle of a fixed-length run (the client and its connections exit at the end,
    taking their counters with them): from 1 s after start to 0.5 s before the end."""
    time.sleep(1.0)
    cpu.start()
    time.sleep(max(0.5, duration - 1.5))
    usage = cpu.stop()
    if proc.poll() is not None:
        usage["note"] = "the client exited inside the CPU window"
    return usage


def node_client(
    args: argparse.Namespace,
    mode: str,
    url: str,
    extra: dict[str, Any],
    *,
    roots: dict[str, list[int]],
    on_window: Any = None,
    pg_db: str | None = None,
    timeout: float = 900,
) -> dict[str, Any]:
    """Run bench/load.mjs; sample CPU (and the database's sessions) exactly over its measured window."""
    cmd = [args.node, str(BENCH / "load.mjs"), mode, "--url", url]
    for k, v in extra.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    proc = CHILDREN.start(cmd, stdout=subprocess.PIPE)
    cpu = CpuWindow({**roots, "client": [proc.pid]})
    activity = PgActivity(pg_db) if pg_db else None
    result: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    killer = threading.Timer(timeout, lambda: CHILDREN.stop(proc))
    killer.daemon = True
    killer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if msg.get("event") == "measure_start":
                cpu.start()
                if activity:
                    activity.start()
                if on_window:
                    on_window("start")
            elif msg.get("event") == "measure_end":
                result["cpu"] = cpu.stop()
                if activity:
                    result["pg_activity"] = activity.stop()
                if on_window:
                    on_window("end")
            elif msg.get("event") == "result":
                result.update(msg)
        rc = proc.wait(max(1.0, deadline - time.monotonic()))
    finally:
        killer.cancel()
        CHILDREN.stop(proc)
    if rc != 0 or "mode" not in result:
        raise RuntimeError(f"load client ({mode}) failed with exit code {rc}")
    return result


def wrk_client(args: argparse.Namespace, url: str, *, roots: dict[str, list[int]]) -> dict[str, Any]:
    """wrk for a plain GET; a short unmeasured warm-up first."""
    base = [
        args.wrk,
        "-t",
        "2",
        "-c",
        str(args.read_concurrency),
        "--timeout",
        "30s",
        "-s",
        str(BENCH / "wrk_report.lua"),
    ]
    run(base + ["-d", f"{args.warmup}s", url], timeout=args.warmup + 60)
    proc = CHILDREN.start(base + ["-d", f"{args.duration}s", url], stdout=subprocess.PIPE)
    cpu = CpuWindow({**roots, "client": [proc.pid]})
    usage = cpu_during(proc, cpu, args.duration)
    out, _ = proc.communicate(timeout=args.duration + 120)
    CHILDREN.stop(proc)
    text = out.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith('{"wrk"')), None)
    if line is None:
        raise RuntimeError(f"wrk printed no report:\n{text}")
    data = json.loads(line)
    client = usage["percent_of_one_core"].get("client", 0.0)
    return {
        "mode": "read",
        "client_tool": "wrk",
        "path": url,
        "concurrency": args.read_concurrency,
        "duration_s": data["seconds"],
        "per_s": data["per_s"],
        "latency_ms": data["latency_ms"],
        "errors": {"non_2xx": data["non_2xx"], "socket": data["socket_errors"]},
        "client": {"cpu_percent_of_one_core": client},
        "cpu": usage,
    }


def read_load(
    args: argparse.Namespace,
    base: str,
    path: str,
    roots: dict[str, list[int]],
    expect: str,
    on_window: Any = None,
) -> dict[str, Any]:
    if args.read_client == "wrk":
        return wrk_client(args, base + path, roots=roots)
    return node_client(
        args,
        "read",
        base,
        {
            "path": path,
            "concurrency": args.read_concurrency,
            "duration": args.duration,
            "warmup": args.warmup,
            "expect": expect,
        },
        roots=roots,
        on_window=on_window,
    )


# ------------------------------------------------------------------------------------------------
# gunicorn


def start_gunicorn(
    args: argparse.Namespace, target: str, port: int, env_extra: dict[str, str], log_path: Path
) -> subprocess.Popen:
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(args.workers),
        "PYTHONUNBUFFERED": "1",
        **env_extra,
    }
    log_path.write_bytes(b"")
    proc = CHILDREN.start(
        [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), target], env=env, log=log_path
    )
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, log_path)
    return proc


def worker_pids(master: int) -> list[int]:
    return sorted(pid for pid, (_, ppid, *_rest) in _proc_table().items() if ppid == master)


def app_env(args: argparse.Namespace) -> dict[str, str]:
    extra = dict(kv.split("=", 1) for kv in getattr(args, "env", []) or [])
    return {
        "DATABASE_URL": f"{PG}/{args.db}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{args.redis_db}",
        "REDIS_NAMESPACE": "bench",
        "SECRET_KEY": "bench-secret-key-" + "k" * 40,
        "LOG_JSON": "0",
        "INSTANCE_PATH": str(BENCH / "out" / "instance"),
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "ACCESS_TOKEN_TTL": "7200",
        # limits raised through settings only (the benchmark measures throughput, not policy)
        "RATELIMIT_SCORE_PER_USER": RAISED,
        "RATELIMIT_TOKEN_PER_USER": RAISED,
        "RATELIMIT_SCORE_PER_SESSION": "1000000/hour",
        "RATELIMIT_API_PER_IP": RAISED,
        "RATELIMIT_REGISTER_PER_IP": "1000000/hour",
        "RATELIMIT_FLAGGED_SCORE": RAISED,
        "RATELIMIT_STRATEGY": "fixed-window",
        "FRAUD_BURST_COUNT": "1000000",
        "FRAUD_ACCOUNTS_PER_IP": "1000000",
        "SUSPICIOUS_VELOCITY_THRESHOLD": "1000000000",
        "MANUAL_REVIEW_THRESHOLD": "1000000000",
        "ACTION_CATALOG": json.dumps(
            {"complete_task": {"points": 10, "cooldown_seconds": 0, "max_per_hour": 0}}
        ),
        **extra,
    }


def migrate(db: str, env_extra: dict[str, str]) -> None:
    env = {**os.environ, **env_extra, "FLASK_APP": "wsgi:app", "DATABASE_URL": f"{PG}/{db}"}
    run([str(VENV_BIN / "flask"), "db", "upgrade"], env=env, timeout=300)


def scan_app_log(path: Path) -> dict[str, Any]:
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = text.splitlines()
    tracebacks = [i for i, ln in enumerate(lines) if ln.startswith("Traceback")]
    excerpts = ["\n".join(lines[max(0, i - 2) : i + 40]) for i in tracebacks[:3]]
    return {
        "lines": len(lines),
        "tracebacks": len(tracebacks),
        "error_lines": sum(
            1 for ln in lines if " ERROR " in ln or "[ERROR]" in ln or '"level": "ERROR"' in ln
        ),
        "worker_timeouts": sum(1 for ln in lines if "WORKER TIMEOUT" in ln),
        "warnings": sum(1 for ln in lines if "WARNING" in ln),
        "first_tracebacks": excerpts,
        "last_lines": lines[-15:],
    }


# ------------------------------------------------------------------------------------------------
# phases


def _pgbench_once(args: argparse.Namespace, script: str, duration: int) -> dict[str, Any]:
    cmd = [
        "pgbench",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-n",
        "-M",
        "prepared",
        "-c",
        str(args.pgbench_clients),
        "-j",
        str(min(args.pgbench_clients, NCPU)),
        "-f",
        str(BENCH / script),
        "-D",
        f"nusers={args.players}",
    ]
    run(cmd + ["-T", str(args.warmup), args.pg_db], timeout=args.warmup + 120)  # warm-up
    proc = CHILDREN.start(cmd + ["-T", str(duration), args.pg_db], stdout=subprocess.PIPE)
    cpu = CpuWindow({"client": [proc.pid]})
    activity = PgActivity(args.pg_db)
    activity.start()
    usage = cpu_during(proc, cpu, duration)
    pg_activity = activity.stop()
    out, _ = proc.communicate(timeout=duration + 120)
    CHILDREN.stop(proc)
    text = out.decode(errors="replace")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    lat = re.search(r"latency average = ([\d.]+) ms", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    if not tps:
        raise RuntimeError(f"pgbench output not understood:\n{text}")
    return {
        "script": f"bench/{script}",
        "tps": float(tps.group(1)),
        "latency_avg_ms": float(lat.group(1)) if lat else None,
        "failed": int(failed.group(1)) if failed else None,
        "clients": args.pgbench_clients,
        "duration_s": duration,
        "cpu": usage,
        "pg_activity": pg_activity,
    }


def phase_pgbench(args: argparse.Namespace) -> dict[str, Any]:
    """The app's score transaction straight into PostgreSQL, on the app's schema (scratch DB);
    then the same with the board_state counter row replaced by a sequence (diagnosis)."""
    log(f"pgbench: scratch database {args.pg_db}, {args.pgbench_clients} clients, {args.duration}s")
    recreate_db(args.pg_db)
    migrate(args.pg_db, app_env(args))
    sql(
        args.pg_db,
        "INSERT INTO users (username, email, password_hash, display_name, role, score, rank_version, "
        "is_banned, penalty_level, is_hidden, is_flagged, is_deleted, created_at, updated_at) "
        "SELECT 'pg_' || i, 'pg_' || i || '@bench.example', NULL, 'pg_' || i, 'player', 0, 0, false, 0, "
        "false, false, false, now(), now() FROM generate_series(1, %s) AS i",
        (args.players,),
    )
    sql(args.pg_db, "CREATE SEQUENCE bench_board_seq")
    sql(args.pg_db, "VACUUM ANALYZE")
    try:
        res = _pgbench_once(args, "pgbench_score.sql", args.duration)
        res["score_events_written"] = sql(args.pg_db, "SELECT count(*) FROM score_events")[0][0]
        log(f"pgbench: {res['tps']:.0f} tps, latency avg {res['latency_avg_ms']} ms")
        if args.pgbench_variant:
            short = max(5, args.duration // 2)
            log(f"pgbench: diagnosis variant, seq from a sequence instead of the board_state row, {short}s")
            res["sequence_variant"] = _pgbench_once(args, "pgbench_score_sequence.sql", short)
            log(f"pgbench (sequence variant): {res['sequence_variant']['tps']:.0f} tps")
    finally:
        if not args.keep:
            sql("postgres", f'DROP DATABASE IF EXISTS "{args.pg_db}"')
    return res


def phase_redis(args: argparse.Namespace) -> dict[str, Any]:
    """redis-benchmark on the benchmark's own DB number (flushed before the app starts)."""
    if not shutil.which("redis-benchmark"):
        return {"skipped": "redis-benchmark not installed"}
    log("redis-benchmark: INCR, SET, GET, 50 clients, no pipelining")
    out = run(
        [
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "-p",
            "6379",
            "--dbnum",
            str(args.redis_db),
            "-q",
            "-n",
            "200000",
            "-c",
            "50",
            "-t",
            "incr,set,get",
            "--csv",
        ],
        timeout=300,
    ).stdout
    res: dict[str, Any] = {}
    for line in out.splitlines():
        parts = [p.strip('"') for p in line.split(",")]
        if len(parts) >= 2 and parts[0] in ("INCR", "SET", "GET"):
            res[parts[0].lower() + "_per_s"] = float(parts[1])
    run(["redis-cli", "-h", "127.0.0.1", "-n", str(args.redis_db), "FLUSHDB"], timeout=30)
    return res


def phase_hello(args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    log_path = BENCH / "out" / "gunicorn-hello.log"
    log(f"hello world: gunicorn bench.hello:app on :{port}, {args.workers} gevent workers")
    proc = start_gunicorn(args, "bench.hello:app", port, {}, log_path)
    try:
        res = read_load(args, f"http://127.0.0.1:{port}", "/hello", {"gunicorn": [proc.pid]}, "hello")
    finally:
        CHILDREN.stop(proc)
    log(f"hello world: {res['per_s']:.0f} req/s, p95 {res['latency_ms']['p95']:.1f} ms")
    return res


def phase_metrics(args: argparse.Namespace) -> dict[str, Any]:
    """The Prometheus series' own CPU per request, per process and in gunicorn's multiprocess mode."""
    log("metrics: CPU per request of the request and submission series, both modes")
    res = metrics_cost.measure()
    log(
        f"metrics: {res['one_process_us']:.2f} µs one process, {res['multiprocess_us']:.2f} µs multiprocess;"
        f" tracing off {res['tracing_off_us']:.2f} µs a submit"
    )
    return res


def consistency(
    args: argparse.Namespace,
    client_accepted: int,
    client_points: int,
    players: dict[int, dict[str, Any]],
    base: str,
) -> dict[str, Any]:
    db = args.db
    events, ev_points = sql(
        db,
        "SELECT count(*), coalesce(sum(points), 0) FROM score_events WHERE source = 'action' "
        "AND board = 'main'",
    )[0]
    # every board's accepted actions: one score.accepted audit row each
    events_all = sql(db, "SELECT count(*) FROM score_events WHERE source = 'action'")[0][0]
    user_sum = sql(db, "SELECT coalesce(sum(score), 0) FROM users")[0][0]
    audits = sql(db, "SELECT count(*) FROM audit_log WHERE event = 'score.accepted'")[0][0]
    per_user = dict(
        sql(db, "SELECT user_id, sum(points) FROM score_events WHERE board = 'main' GROUP BY user_id")
    )
    scores = dict(sql(db, "SELECT id, score FROM users"))
    mismatched = []
    for uid, p in players.items():
        if not (
            scores.get(uid, 0) == per_user.get(uid, 0) == p["points"]
            and (p["last_new_score"] is None or p["last_new_score"] == scores.get(uid))
        ):
            mismatched.append(
                {
                    "user_id": uid,
                    "client_points": p["points"],
                    "db_score": scores.get(uid),
                    "db_event_points": per_user.get(uid),
                    "last_new_score": p["last_new_score"],
                }
            )
    # the API's board (Redis rank index) against the database's order
    time.sleep(1.0)
    api = http_json(f"{base}/api/v1/leaderboard?limit=100")
    api_rows = [(e["user_id"], e["score"]) for e in api.get("leaderboard", [])]
    db_rows = [
        tuple(r)
        for r in sql(
            db,
            "SELECT id, score FROM users WHERE score_updated_at IS NOT NULL "
            "AND NOT is_banned AND NOT is_hidden "
            "ORDER BY score DESC, score_updated_at ASC, id ASC LIMIT 100",
        )
    ]
    ok = (
        client_points == int(user_sum) == int(ev_points)
        and client_accepted == events
        and audits == events_all
        and not mismatched
    )
    return {
        "ok": ok and api_rows == db_rows,
        "points_ok": ok,
        "client_accepted": client_accepted,
        "client_points": client_points,
        "db_score_events": events,
        "db_score_events_points": int(ev_points),
        "db_users_score_sum": int(user_sum),
        "db_audit_accepted": audits,
        "db_score_events_every_board": events_all,
        "players_mismatched": mismatched[:10],
        "players_mismatched_count": len(mismatched),
        "leaderboard_api_matches_db_top100": api_rows == db_rows,
        "leaderboard_total_players": api.get("total_players"),
    }


def board_consistency(
    args: argparse.Namespace, slug: str, players: dict[int, dict[str, Any]], base: str
) -> dict[str, Any]:
    """The board write phase: accepted points counted by the client = the board's all-time rows =
    each kept period's rows (summed over its keys: a run may cross midnight) = the score events on
    the board, per player too; and each current period's API top 100 = the database's order."""
    db = args.db
    client_accepted = sum(p["accepted"] for p in players.values())
    client_points = sum(p["points"] for p in players.values())
    events, ev_points = sql(
        db,
        "SELECT count(*), coalesce(sum(points), 0) FROM score_events WHERE source = 'action' AND board = %s",
        (slug,),
    )[0]
    per_period = {
        period: (int(total), int(rows))
        for period, total, rows in sql(
            db,
            "SELECT period, coalesce(sum(score), 0), count(*) FROM board_scores WHERE board = %s "
            "GROUP BY period",
            (slug,),
        )
    }
    per_user = dict(
        sql(db, "SELECT user_id, sum(points) FROM score_events WHERE board = %s GROUP BY user_id", (slug,))
    )
    all_time = dict(
        sql(db, "SELECT user_id, score FROM board_scores WHERE board = %s AND period_key = 'all'", (slug,))
    )
    mismatched = []
    for uid, p in players.items():
        if not (
            all_time.get(uid, 0) == per_user.get(uid, 0) == p["points"]
            and (p["last_new_score"] is None or p["last_new_score"] == all_time.get(uid))
        ):
            mismatched.append(
                {
                    "user_id": uid,
                    "client_points": p["points"],
                    "db_all_time": all_time.get(uid),
                    "db_event_points": per_user.get(uid),
                    "last_new_score": p["last_new_score"],
                }
            )
    time.sleep(1.0)  # as for main: the rank index is placed right after the commit
    boards_ok: dict[str, bool] = {}
    for period in ["all", *BOARD["periods"]]:
        api = http_json(f"{base}/api/v1/boards/{slug}/leaderboard?period={period}&limit=100")
        api_rows = [(e["user_id"], e["score"]) for e in api.get("leaderboard", [])]
        db_rows = [
            tuple(r)
            for r in sql(
                db,
                "SELECT b.user_id, b.score FROM board_scores b JOIN users u ON u.id = b.user_id "
                "WHERE b.board = %s AND b.period_key = %s AND NOT u.is_banned AND NOT u.is_hidden "
                "ORDER BY b.score DESC, b.score_updated_at ASC, b.user_id ASC LIMIT 100",
                (slug, api.get("period_key")),
            )
        ]
        boards_ok[f"{period} ({api.get('period_key')})"] = api_rows == db_rows
    sums = {period: total for period, (total, _) in per_period.items()}
    points_ok = (
        client_points == int(ev_points)
        and client_accepted == events
        and all(sums.get(period) == client_points for period in ["all", *BOARD["periods"]])
        and not mismatched
    )
    return {
        "ok": points_ok and all(boards_ok.values()),
        "points_ok": points_ok,
        "board": slug,
        "client_accepted": client_accepted,
        "client_points": client_points,
        "db_score_events": events,
        "db_score_events_points": int(ev_points),
        "db_board_scores_sum_by_period": sums,
        "db_board_scores_rows_by_period": {period: rows for period, (_, rows) in per_period.items()},
        "players_mismatched": mismatched[:10],
        "players_mismatched_count": len(mismatched),
        "leaderboard_api_matches_db_top100": boards_ok,
    }


def pyspy_start(args: argparse.Namespace, master: int, name: str, seconds: int) -> list[subprocess.Popen]:
    """Three samplers on the gunicorn master and its workers: collapsed stacks of every non-idle
    sample (running or waiting for a CPU), of the samples holding the GIL (≈ Python on the CPU),
    and a flame graph."""
    out = BENCH / "out"
    common = [
        args.py_spy,
        "record",
        "--pid",
        str(master),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        str(args.profile_rate),
        "--duration",
        str(seconds),
    ]
    procs = [
        CHILDREN.start(
            common + ["--function", "--format", "raw", "-o", str(out / f"{name}.txt")],
            log=out / f"{name}.py-spy.log",
        ),
        CHILDREN.start(
            common + ["--gil", "--function", "--format", "raw", "-o", str(out / f"{name}-gil.txt")],
            log=out / f"{name}-gil.py-spy.log",
        ),
        CHILDREN.start(
            common + ["--format", "flamegraph", "-o", str(out / f"{name}.svg")],
            log=out / f"{name}.svg.py-spy.log",
        ),
    ]
    return procs


def pyspy_wait(procs: list[subprocess.Popen], timeout: float) -> None:
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        CHILDREN.stop(p)


def phase_app(args: argparse.Namespace, results: dict[str, Any]) -> None:
    env = app_env(args)
    log(f"app: fresh database {args.db}, migrations, Redis DB {args.redis_db} flushed")
    recreate_db(args.db)
    migrate(args.db, env)
    run(["redis-cli", "-h", "127.0.0.1", "-n", str(args.redis_db), "FLUSHDB"], timeout=30)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = BENCH / "out" / "gunicorn-app.log"
    log(f"app: gunicorn wsgi:app on :{port}, {args.workers} gevent workers")
    proc = start_gunicorn(args, "wsgi:app", port, env, log_path)
    roots = {"gunicorn": [proc.pid]}
    try:
        ready = urllib.request.urlopen(f"{base}/readyz", timeout=10).read().decode()  # noqa: S310
        results["readyz"] = json.loads(ready)
        players_file = BENCH / "out" / "players.json"
        log(f"app: registering {args.players} players")
        results["register"] = node_client(
            args,
            "register",
            base,
            {
                "players": args.players,
                "concurrency": 16,
                "players_file": players_file,
                "prefix": f"b{int(time.time()) % 100000}",
            },
            roots=roots,
        )
        players = {
            p["user_id"]: {"points": 0, "last_new_score": None} for p in json.loads(players_file.read_text())
        }
        # the same players on the board of the board phase: what the client counted there
        on_board = {uid: {"accepted": 0, "points": 0, "last_new_score": None} for uid in players}
        accepted = points = 0
        if args.board_phase:
            log(f"app: board {BOARD['slug']} (periods {', '.join(BOARD['periods'])}) through the admin API")
            create_boards(base, args.db, [BOARD])

        def write(
            concurrency: int, duration: int, on_window: Any = None, board: str | None = None
        ) -> dict[str, Any]:
            nonlocal accepted, points
            extra: dict[str, Any] = {
                "players_file": players_file,
                "concurrency": concurrency,
                "duration": duration,
                "warmup": args.warmup,
            }
            if board:
                extra["board"] = board
            res = node_client(args, "write", base, extra, roots=roots, on_window=on_window, pg_db=args.db)
            if board:
                for p in res.pop("players"):
                    st = on_board[p["user_id"]]
                    st["accepted"] += p["accepted"]
                    st["points"] += p["points"]
                    if p["last_new_score"] is not None:
                        st["last_new_score"] = p["last_new_score"]
                return res
            accepted += res["accepted_total"]
            points += res["points_total"]
            for p in res.pop("players"):
                st = players[p["user_id"]]
                st["points"] += p["points"]
                if p["last_new_score"] is not None:
                    st["last_new_score"] = p["last_new_score"]
            return res

        results["write"] = []
        for i, conc in enumerate(args.write_concurrency):
            log(
                f"app: write load, {conc} players in closed loops, {args.duration}s (+{args.warmup}s warm-up)"
            )
            res = write(conc, args.duration)
            results["write"].append(res)
            lat = res["submit_latency_ms"]
            log(
                f"app: {res['accepted_per_s']:.0f} accepted updates/s, p50 {fmt(lat['p50'])} p95 "
                f"{fmt(lat['p95'])} p99 {fmt(lat['p99'])} ms, errors {res['errors'] or 'none'}"
            )
            if i == 0 and args.board_phase:
                # right after main's headline load, at the same concurrency: its same-run baseline
                log(
                    f"app: write load on board {BOARD['slug']} (all-time + daily + weekly + monthly), "
                    f"{conc} players, {args.duration}s (+{args.warmup}s warm-up)"
                )
                res = write(conc, args.duration, board=BOARD["slug"])
                results["write_board"] = res
                lat = res["submit_latency_ms"]
                log(
                    f"app: board {res['accepted_per_s']:.0f} accepted updates/s, p50 {fmt(lat['p50'])} "
                    f"p95 {fmt(lat['p95'])} p99 {fmt(lat['p99'])} ms, errors {res['errors'] or 'none'}"
                )
        log("app: consistency check")
        results["consistency"] = consistency(args, accepted, points, players, base)
        log(f"app: consistency {'OK' if results['consistency']['ok'] else 'FAILED'}")
        if "write_board" in results:
            results["consistency_board"] = board_consistency(args, BOARD["slug"], on_board, base)
            log(f"app: board consistency {'OK' if results['consistency_board']['ok'] else 'FAILED'}")

        log(f"app: read load GET /api/v1/leaderboard, {args.read_concurrency} connections, {args.duration}s")
        results["read"] = read_load(args, base, "/api/v1/leaderboard", roots, '"leaderboard"')
        log(
            f"app: {results['read']['per_s']:.0f} reads/s, p95 {fmt(results['read']['latency_ms']['p95'])} ms"
        )

        if args.profile_duration > 0:
            master = proc.pid
            workers = worker_pids(master)
            results["profile"] = {"workers": workers}
            kinds = ("write", "board", "read") if "write_board" in results else ("write", "read")
            for kind in kinds:
                name = f"profile-{kind}"
                holder: dict[str, list[subprocess.Popen]] = {}

                def on_window(event: str, name: str = name, holder: dict = holder) -> None:
                    if event == "start":
                        holder["p"] = pyspy_start(args, master, name, args.profile_duration)

                log(
                    f"profile: py-spy on the gunicorn workers {workers} under the {kind} load, "
                    f"{args.profile_duration}s"
                )
                if kind == "write":
                    res = write(args.write_concurrency[0], args.profile_duration, on_window)
                elif kind == "board":
                    res = write(args.write_concurrency[0], args.profile_duration, on_window, BOARD["slug"])
                else:
                    saved = args.duration
                    args.duration = args.profile_duration
                    try:
                        res = node_client(
                            args,
                            "read",
                            base,
                            {
                                "path": "/api/v1/leaderboard",
                                "concurrency": args.read_concurrency,
                                "duration": args.profile_duration,
                                "warmup": args.warmup,
                                "expect": '"leaderboard"',
                            },
                            roots=roots,
                            on_window=on_window,
                        )
                    finally:
                        args.duration = saved
                pyspy_wait(holder.get("p", []), timeout=30)
                raw = BENCH / "out" / f"{name}.txt"
                results["profile"][kind] = {
                    "under_load": {k: res[k] for k in ("accepted_per_s", "per_s") if k in res},
                    "cpu": res.get("cpu"),
                    "svg": str(raw.with_suffix(".svg").relative_to(ROOT)),
                    "raw": str(raw.relative_to(ROOT)),
                    "analysis": analyse_profile(
                        raw, "FastPaths._board" if kind == "read" else "Scorer.submit"
                    ),
                    "analysis_gil": analyse_profile(
                        raw.with_name(f"{name}-gil.txt"),
                        "FastPaths._board" if kind == "read" else "Scorer.submit",
                    ),
                }
            log("app: consistency check after the profiled load")
            results["consistency_final"] = consistency(args, accepted, points, players, base)
            if "write_board" in results:
                results["consistency_board_final"] = board_consistency(args, BOARD["slug"], on_board, base)
    finally:
        CHILDREN.stop(proc)
        results["app_log"] = scan_app_log(log_path)


# ------------------------------------------------------------------------------------------------
# py-spy collapsed stacks → own / total time per function, and a split by package


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path}{':' + m.group('line') if m.group('line') else ''})"


def _package(frame: str) -> str:
    """The package of a frame: `psycopg`, `gevent`, `app/scoring`, `urllib`, ... (py-spy shortens
    site-packages and the working directory away)."""
    m = _FRAME.match(frame)
    path = m.group("file") if m else frame
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    parts = path.split("/")
    if parts[0] == "app" and len(parts) > 2:
        return "app/" + parts[1]
    if len(parts) == 1:
        return parts[0].removesuffix(".py")
    return parts[0]


def analyse_profile(raw: Path, focus: str, top: int = 25) -> dict[str, Any]:
    if not raw.exists() or raw.stat().st_size == 0:
        return {"error": f"no samples in {raw}"}
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    f_own: collections.Counter[str] = collections.Counter()
    f_total: collections.Counter[str] = collections.Counter()
    pkg: collections.Counter[str] = collections.Counter()
    f_pkg: collections.Counter[str] = collections.Counter()
    by_process: collections.Counter[str] = collections.Counter()
    app_total: collections.Counter[str] = collections.Counter()
    f_app_total: collections.Counter[str] = collections.Counter()
    n = n_focus = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        frames = stack.split(";")
        # py-spy prefixes "process <pid>:\"cmdline\"" and "thread (...)" frames; drop them
        proc_frame = next((f for f in reversed(frames) if f.startswith("process ")), "")
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        n += c
        by_process[proc_frame.split(":")[0]] += c
        leaf = _short(frames[-1])
        own[leaf] += c
        pkg[_package(frames[-1])] += c
        seen = {_short(f) for f in frames}
        mine = {_short(f) for f in frames if _package(f).startswith("app")}
        for f in seen:
            total[f] += c
        for f in mine:
            app_total[f] += c
        if any(focus in f for f in frames):
            n_focus += c
            f_own[leaf] += c
            f_pkg[_package(frames[-1])] += c
            for f in seen:
                f_total[f] += c
            for f in mine:
                f_app_total[f] += c

    def rows(counter: collections.Counter[str], base: int) -> list[tuple[str, float]]:
        return [(k, round(v / base * 100, 1)) for k, v in counter.most_common(top)] if base else []

    return {
        "samples": n,
        "samples_by_process": dict(by_process),
        "focus": focus,
        "focus_share_percent": round(n_focus / n * 100, 1) if n else 0,
        "own_percent": rows(own, n),
        "total_percent": rows(total, n),
        "package_own_percent": rows(pkg, n),
        "focus_own_percent": rows(f_own, n_focus),
        "focus_total_percent": rows(f_total, n_focus),
        "focus_package_own_percent": rows(f_pkg, n_focus),
        # the app's own functions: where the request's time goes, step by step
        "app_total_percent": rows(app_total, n),
        "focus_app_total_percent": rows(f_app_total, n_focus),
    }


# ------------------------------------------------------------------------------------------------
# report


def fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def cpu_line(cpu: dict[str, Any] | None) -> str:
    if not cpu:
        return "-"
    p = cpu["percent_of_one_core"]
    order = ["gunicorn", "postgres", "redis", "client", "other"]
    parts = [f"{g} {p.get(g, 0.0):.0f}%" for g in order if g in p or g != "other"]
    steal = cpu.get("steal_percent_of_one_core")
    return (
        ", ".join(parts)
        + f"  (machine busy {cpu['machine_busy_percent']}% of {cpu['cores']} cores"
        + (f", hypervisor steal {steal:.0f}%)" if steal is not None else ")")
    )


def summary(args: argparse.Namespace, r: dict[str, Any]) -> str:
    out: list[str] = []
    w = r.get("write", [{}])[0] if r.get("write") else {}
    rd, hello, pg = r.get("read", {}), r.get("hello", {}), r.get("pgbench", {})
    wl = w.get("submit_latency_ms", {})
    rl = rd.get("latency_ms", {})
    hl = hello.get("latency_ms", {})
    ups = w.get("accepted_per_s")
    reads, hps, tps = rd.get("per_s"), hello.get("per_s"), pg.get("tps")
    ratio_w = ups / tps if ups and tps else None
    ratio_r = reads / hps if reads and hps else None
    r["ratios"] = {"updates_per_pgbench_tps": ratio_w, "reads_per_hello": ratio_r}

    def other_load(res: dict[str, Any]) -> float:
        return ((res.get("cpu") or {}).get("percent_of_one_core") or {}).get("other", 0.0)

    def worker_ms(res: dict[str, Any], rate: float | None) -> float | None:
        p1 = (res.get("cpu") or {}).get("percent_of_one_core") or {}
        return p1["gunicorn"] / 100 / rate * 1000 if rate and p1.get("gunicorn") else None

    bw = r.get("write_board") or {}
    bups = bw.get("accepted_per_s")
    ratio_b = bups / ups if bups and ups else None
    main_ms, board_ms = worker_ms(w, ups), worker_ms(bw, bups)
    ratio_b_cpu = main_ms / board_ms if main_ms and board_ms else None
    r["ratios"]["board_per_main_updates"] = ratio_b
    r["ratios"]["board_per_main_by_worker_cpu"] = ratio_b_cpu
    noisy = any(other_load(x) > 15 for x in (w, rd, hello, bw))
    read_ms, hello_ms = worker_ms(rd, reads), worker_ms(hello, hps)
    ratio_cpu = hello_ms / read_ms if read_ms and hello_ms else None
    r["noisy_machine"] = noisy
    r["targets"] = {
        "measured_on_a_busy_machine": noisy,
        "updates_ge_1000_per_s": bool(ups and ups >= 1000),
        "submit_p95_lt_50ms": bool(wl.get("p95") is not None and wl["p95"] < 50),
        "reads_ge_0.8_hello": bool(ratio_r and ratio_r >= 0.8),
        "reads_ge_0.8_hello_by_worker_cpu": bool(ratio_cpu and ratio_cpu >= 0.8),
    }
    if bw:
        r["targets"]["board_updates_ge_0.8_main"] = bool(ratio_b and ratio_b >= 0.8)
        r["targets"]["board_updates_ge_0.8_main_by_worker_cpu"] = bool(ratio_b_cpu and ratio_b_cpu >= 0.8)
    ok = lambda b: "PASS" if b else "MISS"  # noqa: E731
    out.append("")
    out.append("=" * 100)
    out.append(
        f"Live Scoreboard benchmark  {r['started']}  ({NCPU} cores, {args.workers} gevent workers, "
        f"{args.duration}s per phase, read client {args.read_client})"
    )
    g = r.get("git") or {}
    out.append(f"commit {g.get('commit', '?')[:12]}, {len(g.get('dirty') or [])} uncommitted paths")
    out.append("=" * 100)

    def board_line() -> None:
        lat = bw["submit_latency_ms"]
        out.append(
            f"{'  same on a board, all+day+week+month (c=' + str(bw['concurrency']) + ')':<44}"
            f"{fmt(bups):>14}{fmt(lat['p50'], 2):>9}{fmt(lat['p95'], 2):>9}{fmt(lat['p99'], 2):>9}"
        )

    hdr = f"{'measure':<44}{'value':>14}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  target"
    out.append(hdr)
    out.append("-" * 100)
    for i, wr in enumerate(r.get("write", [])):
        if i == 1 and bw:
            board_line()
        lat = wr["submit_latency_ms"]
        out.append(
            f"{'accepted score updates/s (c=' + str(wr['concurrency']) + ')':<44}"
            f"{fmt(wr['accepted_per_s']):>14}{fmt(lat['p50'], 2):>9}{fmt(lat['p95'], 2):>9}"
            f"{fmt(lat['p99'], 2):>9}  >=1000/s {ok(wr['accepted_per_s'] >= 1000)}, "
            f"p95<50ms {ok(lat['p95'] is not None and lat['p95'] < 50)}"
        )
        tl = wr["token_latency_ms"]
        if tl["count"]:
            out.append(
                f"{'  action-token requests/s':<44}{fmt(wr['token_requests_per_s']):>14}"
                f"{fmt(tl['p50'], 2):>9}{fmt(tl['p95'], 2):>9}{fmt(tl['p99'], 2):>9}"
            )
    if bw and len(r.get("write", [])) < 2:
        board_line()
    out.append(
        f"{'leaderboard reads/s (c=' + str(args.read_concurrency) + ')':<44}{fmt(reads):>14}"
        f"{fmt(rl.get('p50'), 2):>9}{fmt(rl.get('p95'), 2):>9}{fmt(rl.get('p99'), 2):>9}"
    )
    out.append(
        f"{'hello-world req/s (same gunicorn, same client)':<44}{fmt(hps):>14}{fmt(hl.get('p50'), 2):>9}"
        f"{fmt(hl.get('p95'), 2):>9}{fmt(hl.get('p99'), 2):>9}"
    )
    out.append(
        f"{'pgbench score transaction tps (c=' + str(pg.get('clients')) + ')':<44}{fmt(tps):>14}"
        f"{'avg ' + fmt(pg.get('latency_avg_ms'), 2):>18}"
    )
    var = pg.get("sequence_variant")
    if var:
        out.append(
            f"{'  same, seq from a sequence (no hot row)':<44}{fmt(var['tps']):>14}"
            f"{'avg ' + fmt(var.get('latency_avg_ms'), 2):>18}"
        )
    red = r.get("redis", {})
    if red.get("incr_per_s"):
        out.append(f"{'redis-benchmark INCR/s (c=50)':<44}{fmt(red['incr_per_s']):>14}")
    out.append("-" * 100)
    out.append(f"{'ratio updates/s : pgbench tps':<44}{fmt(ratio_w, 3):>14}")
    out.append(
        f"{'ratio reads/s : hello-world req/s':<44}{fmt(ratio_r, 3):>14}{'':>27}"
        f"  >=0.8 {ok(ratio_r and ratio_r >= 0.8)}"
        + ("  (busy machine: trust the line below)" if noisy else "")
    )
    out.append(
        f"{'  same, by worker CPU per request':<44}{fmt(ratio_cpu, 3):>14}{'':>27}"
        f"  >=0.8 {ok(ratio_cpu and ratio_cpu >= 0.8)}"
        f"  (hello {fmt(hello_ms, 2)} ms, reads {fmt(read_ms, 2)} ms)"
    )
    if bw:
        out.append(
            f"{'ratio board : main updates/s (same run)':<44}{fmt(ratio_b, 3):>14}{'':>27}"
            f"  >=0.8 {ok(ratio_b and ratio_b >= 0.8)}"
            + ("  (busy machine: trust the line below)" if noisy else "")
        )
        out.append(
            f"{'  same, by worker CPU per accepted update':<44}{fmt(ratio_b_cpu, 3):>14}{'':>27}"
            f"  >=0.8 {ok(ratio_b_cpu and ratio_b_cpu >= 0.8)}"
            f"  (main {fmt(main_ms, 2)} ms, board {fmt(board_ms, 2)} ms)"
        )
    mc = r.get("metrics") or {}
    if mc:
        share = mc["added_us"] / 1000 / main_ms if main_ms else None
        out.append(
            f"{'metrics per request, multiprocess (µs)':<44}{fmt(mc['multiprocess_us'], 2):>14}"
            f"  one process {fmt(mc['one_process_us'], 2)} µs: +{fmt(mc['added_us'], 2)} µs = "
            f"{fmt(share and share * 100, 2)} % of the worker CPU per accepted update"
        )
        out.append(f"{'tracing off, per submit (µs)':<44}{fmt(mc['tracing_off_us'], 2):>14}")
    c = r.get("consistency", {})
    if c:
        out.append(
            f"{'consistency (client = users.score = events)':<44}{'OK' if c['ok'] else 'FAILED':>14}"
            f"  accepted {c['client_accepted']:,}, points {c['client_points']:,} / "
            f"{c['db_users_score_sum']:,} / {c['db_score_events_points']:,}, events {c['db_score_events']:,}"
        )
    cb = r.get("consistency_board")
    if cb:
        out.append(
            f"{'consistency on the board (client = rows)':<44}{'OK' if cb['ok'] else 'FAILED':>14}"
            f"  accepted {cb['client_accepted']:,}, points {cb['client_points']:,} / events "
            f"{cb['db_score_events_points']:,} / by period "
            + ", ".join(f"{k} {v:,}" for k, v in cb["db_board_scores_sum_by_period"].items())
        )
    cf = r.get("consistency_final")
    if cf:
        out.append(
            f"{'consistency after the profiled runs':<44}{'OK' if cf['ok'] else 'FAILED':>14}"
            f"  accepted {cf['client_accepted']:,}, events {cf['db_score_events']:,}"
        )
    cbf = r.get("consistency_board_final")
    if cbf:
        out.append(
            f"{'  on the board':<44}{'OK' if cbf['ok'] else 'FAILED':>14}"
            f"  accepted {cbf['client_accepted']:,}, events {cbf['db_score_events']:,}"
        )
    out.append("-" * 100)
    out.append(f"CPU over each measured window, % of one core (machine = {NCPU * 100}%):")
    noisy = []
    for label, res in [("writes", w), ("board", bw), ("reads", rd), ("hello", hello), ("pgbench", pg)]:
        if label == "board" and not res:
            continue
        out.append(f"  {label:<9}{cpu_line(res.get('cpu'))}")
        cpu = res.get("cpu") or {}
        if cpu.get("percent_of_one_core", {}).get("other", 0) > 15:
            noisy.append(f"{label}: {cpu.get('other_top')}")
    if noisy:
        out.append(
            "  WARNING: other processes used the CPU during the run; figures are low. " + "; ".join(noisy)
        )
    out.append(
        "  CPU cost per request, ms (gunicorn / postgres / redis), and the rate the machine could "
        "reach if these used both cores and nothing else ran:"
    )
    costs: dict[str, float] = {}
    for label, res, rate in [
        ("writes", w, w.get("accepted_per_s")),
        ("board", bw, bups),
        ("reads", rd, reads),
        ("hello", hello, hps),
        ("pgbench", pg, tps),
    ]:
        cpu = res.get("cpu") or {}
        p1 = cpu.get("percent_of_one_core") or {}
        if not rate or not p1:
            continue
        per = {g: p1.get(g, 0.0) / 100 / rate * 1000 for g in ("gunicorn", "postgres", "redis")}
        total_ms = sum(per.values())
        costs[label] = per["gunicorn"]
        sys_share = (cpu.get("system_share_percent") or {}).get("gunicorn")
        out.append(
            f"    {label:<8} {per['gunicorn']:6.2f} / {per['postgres']:5.2f} / {per['redis']:5.2f}"
            + (
                f"   (gunicorn {sys_share:.0f}% in the kernel)"
                if sys_share is not None and per["gunicorn"]
                else ""
            )
            + f"   → ~{NCPU * 1000 / total_ms:,.0f}/s"
        )
    if costs.get("reads") and costs.get("hello"):
        r["ratios"]["reads_per_hello_by_worker_cpu"] = costs["hello"] / costs["reads"]
        out.append(
            f"    reads : hello by worker CPU per request (robust to other load): "
            f"{costs['hello'] / costs['reads']:.3f}"
        )
    for label, res, rate in [
        ("writes", w, w.get("accepted_in_window")),
        ("board", bw, bw.get("accepted_in_window")),
        ("pgbench", pg, None),
    ]:
        counters = (res.get("pg_activity") or {}).get("db_counters")
        if counters and rate:
            out.append(
                f"  PostgreSQL per accepted update ({label}): "
                + ", ".join(f"{k} {v / rate:.2f}" for k, v in counters.items())
            )
        act = (res.get("pg_activity") or {}).get("avg_backends")
        if act:
            out.append(
                f"  PostgreSQL sessions during {label} (avg backends): "
                + ", ".join(f"{k} {v}" for k, v in list(act.items())[:6])
            )
    client_cpu = [
        (lbl, res.get("client", {}) or {})
        for lbl, res in [("writes", w), ("board", bw), ("reads", rd), ("hello", hello)]
    ]
    out.append(
        "  load client self-reported: "
        + ", ".join(
            f"{lbl} {cc.get('cpu_percent_of_one_core', 0):.0f}% of a core" for lbl, cc in client_cpu if cc
        )
    )
    errs = {k: v for k, v in (w.get("errors") or {}).items()}
    if errs or rd.get("errors") or bw.get("errors"):
        out.append(
            f"  client-seen errors: writes {errs or 'none'}, board {bw.get('errors') or 'none'}, "
            f"reads {rd.get('errors') or 'none'}"
        )
    al = r.get("app_log", {})
    if al:
        out.append(
            f"  app log: {al.get('tracebacks')} tracebacks, {al.get('error_lines')} error lines, "
            f"{al.get('worker_timeouts')} worker timeouts (bench/out/gunicorn-app.log)"
        )
    prof = r.get("profile", {})
    for kind in ("write", "board", "read"):
        a = (prof.get(kind) or {}).get("analysis")
        if not a or "error" in a:
            continue
        out.append("-" * 100)
        out.append(
            f"py-spy, {kind} load: {a['samples']:,} samples (non-idle) in the workers; "
            f"{a['focus_share_percent']}% inside {a['focus']}()  ({prof[kind]['svg']})"
        )
        out.append(
            "  own time by package, all non-idle samples: "
            + ", ".join(f"{k} {v}%" for k, v in a["package_own_percent"][:12])
        )
        g = (prof.get(kind) or {}).get("analysis_gil") or {}
        scope = "all samples" if kind == "read" else f"within {a['focus']}"
        pre = "" if kind == "read" else "focus_"
        if g and "error" not in g:
            out.append(
                f"  own time {scope}, samples holding the GIL (≈ Python on the CPU; "
                f"{g['samples']:,} samples, {g['focus_share_percent']}% in {a['focus']}):"
            )
            for k, v in g[pre + "own_percent"][:12]:
                out.append(f"    {v:5.1f}%  {k}")
            out.append(
                "  own time by package, GIL samples: "
                + ", ".join(f"{k} {v}%" for k, v in g["package_own_percent"][:12])
            )
        gil_app = dict(g.get(pre + "app_total_percent") or [])
        out.append(f"  the app's steps, total time {scope}:  non-idle% | GIL%")
        for k, v in a[pre + "app_total_percent"][:20]:
            out.append(f"    {v:5.1f}% | {gil_app.get(k, 0.0):5.1f}%  {k}")
        out.append(f"  all frames, total time {scope} (non-idle):")
        for k, v in a[pre + "total_percent"][:25]:
            out.append(f"    {v:5.1f}%  {k}")
    out.append("=" * 100)
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=20, help="measured seconds per phase (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="unmeasured seconds before each window (default 3)")
    ap.add_argument(
        "--write-concurrency",
        default="32,50,1",
        help="players looping at once; a comma list runs several, the first is the headline and the "
        "one profiled (default 32,50,1: an operating point where 1,000/s and p95 < 50 ms can both "
        "hold, a heavier load, then one player alone = service time)",
    )
    ap.add_argument("--players", type=int, default=0, help="players to register (default: max concurrency)")
    ap.add_argument("--read-concurrency", type=int, default=128, help="connections for reads (default 128)")
    ap.add_argument(
        "--read-client",
        choices=("node", "wrk"),
        default="node",
        help="load client for leaderboard and hello-world reads (default node/undici)",
    )
    ap.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY (default 2)")
    ap.add_argument("--pgbench-clients", type=int, default=16)
    ap.add_argument(
        "--no-pgbench-variant",
        dest="pgbench_variant",
        action="store_false",
        help="skip the diagnosis run of the transaction with a sequence instead of the counter row",
    )
    ap.add_argument(
        "--profile-duration", type=int, default=15, help="py-spy seconds per load; 0 = no profile"
    )
    ap.add_argument("--profile-rate", type=int, default=100, help="py-spy samples/s")
    ap.add_argument("--db", default="scoreboard_bench")
    ap.add_argument("--pg-db", default="scoreboard_bench_pg")
    ap.add_argument("--redis-db", type=int, default=14)
    ap.add_argument(
        "--skip",
        default="",
        help="comma list of phases to skip: pgbench,redis,hello,metrics,app,board (board: the write "
        "load on a board keeping daily, weekly and monthly periods)",
    )
    ap.add_argument(
        "--wait-quiet",
        type=int,
        default=120,
        help="before each phase, wait up to this many seconds for an idle machine (default 120)",
    )
    ap.add_argument(
        "--quiet-limit", type=float, default=10.0, help="machine CPU %% that counts as idle (default 10)"
    )
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra setting for the app (repeatable), e.g. --env DB_POOL_SIZE=30",
    )
    ap.add_argument("--keep", action="store_true", help="keep the scratch pgbench database")
    args = ap.parse_args()
    args.write_concurrency = [int(x) for x in str(args.write_concurrency).split(",") if x]
    args.players = args.players or max(args.write_concurrency)
    skip = {s for s in args.skip.split(",") if s}
    args.board_phase = "board" not in skip

    signal.signal(signal.SIGINT, on_signal)  # also when started in the background (SIGINT ignored)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))

    args.node = shutil.which("node") or "node"
    args.wrk = shutil.which("wrk") or "wrk"
    args.py_spy = (
        str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else (shutil.which("py-spy") or "")
    )
    (BENCH / "out").mkdir(exist_ok=True)
    if not (BENCH / "node_modules" / "undici").exists():
        log("installing the load client's dependencies (npm ci in bench/)")
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, timeout=300)
    if args.read_client == "wrk" and not shutil.which("wrk"):
        ap.error("--read-client wrk: wrk is not installed (apt-get install wrk)")
    if args.profile_duration and not args.py_spy:
        log("py-spy not found: .venv/bin/pip install py-spy (profiling skipped)")
        args.profile_duration = 0

    CpuWindow.dbs = (args.db, args.pg_db)
    git = {}
    for key, cmd in (("commit", ["git", "rev-parse", "HEAD"]), ("dirty", ["git", "status", "--porcelain"])):
        try:
            git[key] = subprocess.run(
                cmd, cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except OSError:
            pass
    git["dirty"] = git.get("dirty", "").splitlines()
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "args": {k: v for k, v in vars(args).items() if k not in ("node", "wrk", "py_spy")},
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "git": git,
    }
    code = 0
    try:
        results["quiet"] = {}
        for phase in ("pgbench", "redis", "hello", "metrics", "app"):
            if phase in skip:
                continue
            results["quiet"][phase] = wait_quiet(args.quiet_limit, args.wait_quiet)
            if phase == "app":
                phase_app(args, results)
            else:
                results[phase] = {
                    "pgbench": phase_pgbench,
                    "redis": phase_redis,
                    "hello": phase_hello,
                    "metrics": phase_metrics,
                }[phase](args)
    except KeyboardInterrupt as exc:
        log(f"interrupted ({exc}); stopping everything")
        results["interrupted"] = True
        code = 130
    except Exception as exc:
        log(f"benchmark failed: {type(exc).__name__}: {exc}")
        results["failed"] = f"{type(exc).__name__}: {exc}"
        code = 1
    finally:
        CHILDREN.stop_all()
    text = summary(args, results)
    print(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (f"results-{stamp}.json", "latest.json"):
        (BENCH / "out" / name).write_text(json.dumps(results, indent=2, default=str))
    (BENCH / "out" / "latest-summary.txt").write_text(text + "\n")
    log("results: bench/out/latest.json, bench/out/latest-summary.txt")
    for check in ("consistency", "consistency_board"):
        if results.get(check) and not results[check]["ok"]:
            code = code or 3
    return code


if __name__ == "__main__":
    sys.exit(main())
