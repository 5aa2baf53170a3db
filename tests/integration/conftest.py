"""Real processes: a private redis-server the test can kill, and gunicorn with gevent workers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests

from tests import live
from tests.conftest import GENEROUS, ROOT, clean_postgres, clean_redis, run_id
from tests.services import require


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Any, timeout: float = 20.0, what: str = "condition", explain: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: S110 (not up yet; keep polling)
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f": {explain()}" if explain else ""))


class RedisServer:
    """A redis-server of our own on a free port, with no persistence: kill and restart it at will."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: redis_lib.Redis.from_url(self.url).ping(), what="redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    require("redis-server", shutil.which("redis-server") is not None)
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py wsgi:app` with gevent workers, as production runs it."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 2):
        self.port = free_port()
        self.log_path = log_path
        self.env = {
            **os.environ,
            "GRACEFUL_TIMEOUT": "1",
            **env,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "WEB_CONCURRENCY": str(workers),
            "LOG_JSON": "0",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=self.log,
            stderr=self.log,
        )
        wait_until(lambda: requests.get(f"{self.url}/healthz", timeout=1).ok, what="gunicorn")

    def stop(self) -> None:
        """Stop (SIGTERM, graceful for at most GRACEFUL_TIMEOUT: 1 s unless the test set it)."""
        if self.proc is None:
            return
        try:
            live.close_all()
        finally:  # never leave the server running, whatever closing the clients raised
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None
            self.log.close()

    def errors(self) -> str:
        """Tracebacks gunicorn logged, for a failing test's message."""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(line for line in text.splitlines() if "Traceback" in line or "Error" in line)


def production_env(pg_url: str, redis_url: str, namespace: str, **extra: str) -> dict[str, str]:
    env = {key: str(value) for key, value in GENEROUS.items()}
    env.update(
        DATABASE_URL=pg_url.replace("+psycopg", ""),
        REDIS_URL=redis_url,
        REDIS_NAMESPACE=namespace,
        SECRET_KEY="integration-secret-" + "x" * 32,
        PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        ACTION_CATALOG='{"complete_task": {"points": 10, "cooldown_seconds": 0, "max_per_hour": 0}}',
        # The tests speak plain HTTP to 127.0.0.1; test_production_defaults checks the default (on).
        SESSION_COOKIE_SECURE="0",
    )
    env.update(extra)
    return env


def embedded_env(instance: Path, template: Path, **extra: str) -> dict[str, str]:
    """The embedded default: SQLite under instance/, no Redis."""
    instance.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, instance / "scoreboard.db")
    env = {key: str(value) for key, value in GENEROUS.items()}
    env.update(
        INSTANCE_PATH=str(instance),
        DATABASE_URL="",
        REDIS_URL="",
        PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        ACTION_CATALOG='{"complete_task": {"points": 10, "cooldown_seconds": 0, "max_per_hour": 0}}',
        **extra,
    )
    return env


@pytest.fixture
def hosts(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Any]:
    """Start gunicorn "hosts" sharing PostgreSQL and Redis: `hosts(n, **env)`."""
    namespace = f"h{run_id()}"
    clean_postgres(pg_url)
    clean_redis(redis_url, namespace)
    started: list[Gunicorn] = []

    def start(n: int = 2, redis: str | None = None, workers: int = 2, **extra: str) -> list[Gunicorn]:
        env = production_env(pg_url, redis or redis_url, namespace, **extra)
        for _ in range(n):
            server = Gunicorn(env, tmp_path / f"host{len(started)}.log", workers=workers)
            server.start()
            started.append(server)
        return started[-n:]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def embedded_host(sqlite_template: Path, tmp_path: Path) -> Iterator[Any]:
    """Start one gunicorn process in the embedded mode: `embedded_host(**env)`."""
    started: list[Gunicorn] = []

    def start(**extra: str) -> Gunicorn:
        env = embedded_env(tmp_path / "instance", sqlite_template, **extra)
        server = Gunicorn(env, tmp_path / "embedded.log", workers=1)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def gunicorn_app(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Gunicorn]:
    """Production mode: gunicorn, two gevent workers, PostgreSQL and Redis, clean state."""
    namespace = f"g{run_id()}"
    clean_postgres(pg_url)
    clean_redis(redis_url, namespace)
    server = Gunicorn(production_env(pg_url, redis_url, namespace), tmp_path / "gunicorn.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _close_live_clients() -> Iterator[None]:
    """Close every live client a test opened, pass or fail."""
    yield
    live.close_all()
