"""CPU per score submit through the app's own WSGI callable, one at a time, in this process.

No gunicorn, no load client, no group commit: what one accepted update costs the app's Python,
so two versions can be compared without the noise of a shared machine. Production mode
(PostgreSQL and Redis on 127.0.0.1; a scratch database and Redis namespace, dropped at the
end). Give one or more checkouts of the repository; they are run alternately, `--rounds`
times each, and the median is printed:

    .venv/bin/python bench/submit_cpu.py . /path/to/older/checkout --rounds 5 --submits 3000

Each checkout runs in a child process with that checkout first on `sys.path`, using this
virtualenv's packages. `--sizes` also prints, from each checkout's first round, what one accepted
submit leaves on disk: bytes of `score_events`, `audit_log` and `users` (heap + indexes, from
`pg_total_relation_size`) per accepted submit, and WAL bytes per submit (from
`pg_current_wal_lsn()`, for the whole PostgreSQL cluster: an upper bound when other databases
are being written at the same time).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import orjson
import psycopg

PG = "postgresql://postgres@127.0.0.1:5432"
WARMUP = 200
SETTINGS: dict[str, Any] = {
    "REDIS_URL": "redis://127.0.0.1:6379/13",
    "ACTION_CATALOG": {"task": {"points": 1, "cooldown_seconds": 0, "max_per_hour": 0}},
    "RATELIMIT_SCORE_PER_USER": "1000000/minute",
    "RATELIMIT_TOKEN_PER_USER": "1000000/minute",
    "RATELIMIT_SCORE_PER_SESSION": "1000000/hour",
    "RATELIMIT_API_PER_IP": "1000000/minute",
    "RATELIMIT_STRATEGY": "fixed-window",
    "FRAUD_BURST_COUNT": 10**9,
    "SUSPICIOUS_VELOCITY_THRESHOLD": 10**12,
    "SESSION_COOKIE_SECURE": False,
}


SIZED = ("score_events", "audit_log", "users")


def measure(root: str, submits: int, sizes: bool = False) -> float:
    """Milliseconds of this process's CPU per accepted submit (run inside the child); with
    `sizes`, first prints a JSON line of bytes left per accepted submit."""
    sys.path.insert(0, root)
    os.chdir(root)
    from flask_migrate import upgrade

    from app import create_app
    from app.config import TestConfig

    name = f"sbcpu_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{PG}/{name}".replace("postgresql://", "postgresql+psycopg://")
        instance = tempfile.mkdtemp(prefix="sbcpu-")
        config = TestConfig(
            SQLALCHEMY_DATABASE_URI=url, REDIS_NAMESPACE=name, INSTANCE_PATH=instance, **SETTINGS
        )
        app = create_app(config)
        with app.app_context():
            upgrade(directory=os.path.join(root, "migrations"))
        with psycopg.connect(f"{PG}/{name}", autocommit=True) as conn:
            wal0 = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        ms = _loop(app, submits)
        if sizes:
            print(orjson.dumps(_sizes(name, wal0, submits)).decode())
        return ms
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sizes(db: str, wal0: str, submits: int) -> dict[str, Any]:
    """Bytes per accepted submit: each table with its indexes, and WAL since `wal0`."""
    with psycopg.connect(f"{PG}/{db}", autocommit=True) as conn:
        accepted = conn.execute("SELECT count(*) FROM score_events").fetchone()[0]  # type: ignore[index]
        out: dict[str, Any] = {"accepted": accepted, "submits": submits}
        for table in SIZED:
            total, heap, rows = conn.execute(
                f"SELECT pg_total_relation_size('{table}'), pg_relation_size('{table}'),"
                f" (SELECT count(*) FROM {table})"
            ).fetchone()  # type: ignore[misc]
            out[table] = {"rows": rows, "bytes_per_submit": round(total / accepted), "heap_bytes": heap}
        wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (wal0,)).fetchone()[0]  # type: ignore[index]
        out["wal_bytes_per_submit"] = round(float(wal) / accepted)
    return out


def _loop(app: Any, submits: int) -> float:
    client = app.test_client()
    body = {"username": "cpu1", "email": "cpu1@example.com", "password": "password123"}
    bearer = f"Bearer {client.post('/api/v1/auth/register', json=body).get_json()['access_token']}"
    issued = client.post(
        "/api/v1/actions/token", json={"action_type": "task"}, headers={"Authorization": bearer}
    )
    token = issued.get_json()["action_token"]
    started = 0.0
    for i in range(submits + WARMUP):
        if i == WARMUP:
            started = time.process_time()
        status, answer = _submit(app, bearer, orjson.dumps({"action_token": token}))
        assert status.startswith("200"), (status, answer[:200])
        token = orjson.loads(answer)["data"]["next_action_token"]
    cpu = time.process_time() - started
    app.extensions["scoreboard"].stop()
    return 1e3 * cpu / submits


def _submit(app: Any, bearer: str, body: bytes) -> tuple[str, bytes]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/scores",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": bearer,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> None:
        seen["status"] = status

    answer = b"".join(app.wsgi_app(environ, start_response))
    return seen["status"], answer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("roots", nargs="+", help="checkouts of the repository to compare")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--submits", type=int, default=3000)
    ap.add_argument("--sizes", action="store_true", help="also print bytes left per accepted submit")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(measure(os.path.abspath(args.roots[0]), args.submits, args.sizes))
        return
    figures: dict[str, list[float]] = {root: [] for root in args.roots}
    sized: dict[str, dict[str, Any]] = {}
    for _ in range(args.rounds):
        for root in args.roots:
            cmd = [sys.executable, __file__, root, "--child", "--submits", str(args.submits)]
            if args.sizes and root not in sized:
                cmd.append("--sizes")
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            lines = out.stdout.strip().splitlines()
            figures[root].append(float(lines[-1]))
            if "--sizes" in cmd:
                sized[root] = orjson.loads(lines[-2])
    print(f"{time.strftime('%Y-%m-%d %H:%M')}: ms of CPU per accepted submit, {args.submits} submits a round")
    for root, values in figures.items():
        runs = ", ".join(f"{v:.3f}" for v in values)
        print(f"  {root}: median {statistics.median(values):.3f}  ({runs})")
    for root, s in sized.items():
        tables = ", ".join(f"{t} {s[t]['bytes_per_submit']:,} B ({s[t]['rows']:,} rows)" for t in SIZED)
        print(
            f"  {root}: per accepted submit ({s['accepted']:,}): {tables};"
            f" WAL {s['wal_bytes_per_submit']:,} B (whole cluster: an upper bound)"
        )


if __name__ == "__main__":
    main()
