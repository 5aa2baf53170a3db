"""Process and database helpers shared by the benchmarks (bench/run.py, bench/live.py)."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432"


class Children:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.lock = threading.Lock()

    def start(
        self,
        cmd: list[str],
        *,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        cwd: Path = ROOT,
        **kw: Any,
    ) -> subprocess.Popen:
        if log is not None:
            kw.setdefault("stdout", open(log, "ab"))  # noqa: SIM115 (closed with the process)
            kw.setdefault("stderr", subprocess.STDOUT)
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True, **kw)
        with self.lock:
            self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 15.0) -> None:
        """SIGTERM the child's process group (it leads it), then SIGKILL."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left in its group (workers, a stuck leader)
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        with self.lock:
            if proc in self.procs:
                self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.procs)):
            try:
                self.stop(proc, timeout=5.0)
            except Exception as exc:  # keep going: every child must go
                print(f"warning: could not stop pid {proc.pid}: {exc}", file=sys.stderr)


CHILDREN = Children()
atexit.register(CHILDREN.stop_all)


def on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sql(db: str, statement: str, params: tuple | None = None) -> list[tuple]:

    with psycopg.connect(f"{PG}/{db}", autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def recreate_db(name: str) -> None:
    sql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
        "AND pid <> pg_backend_pid()",
        (name,),
    )
    sql("postgres", f'DROP DATABASE IF EXISTS "{name}"')
    sql("postgres", f'CREATE DATABASE "{name}"')


def tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------------
# /proc
