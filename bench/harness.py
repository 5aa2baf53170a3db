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
# boards (SPEC §14), made the way an operator makes them: an admin, then the admin API


def json_request(body: Any = None, token: str | None = None) -> tuple[bytes | None, dict[str, str]]:
    """The body and headers of a JSON API request (with a bearer token, if given)."""
    import json

    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return data, headers


def api_call(
    base: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """One JSON request to the app under test (127.0.0.1 only); (status, decoded body)."""
    import json
    import urllib.error
    import urllib.request

    data, headers = json_request(body, token)
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 (127.0.0.1 only)
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as err:
        raw, status = err.read(), err.code
    return status, (json.loads(raw) if raw else None)


def create_boards(base: str, db: str, boards: list[dict[str, Any]], username: str = "bench_admin") -> None:
    """Register a player, make them an admin in the database (as `flask users create --admin`
    would make one), and create each board with POST /api/v1/admin/boards."""
    password = "bench-admin-password-1"
    status, body = api_call(
        base,
        "POST",
        "/api/v1/auth/register",
        {"username": username, "email": f"{username}@bench.example", "password": password},
    )
    if status != 201:
        raise RuntimeError(f"register {username}: {status} {body}")
    sql(db, "UPDATE users SET role = 'admin' WHERE id = %s", (body["user"]["id"],))
    status, body = api_call(base, "POST", "/api/v1/auth/login", {"username": username, "password": password})
    if status != 200:
        raise RuntimeError(f"login {username}: {status} {body}")
    token = body["access_token"]
    for board in boards:
        status, body = api_call(base, "POST", "/api/v1/admin/boards", board, token)
        if status != 201:
            raise RuntimeError(f"create board {board['slug']}: {status} {body}")
