"""The API answers as its OpenAPI document says: schemathesis over every operation, with every
check, against the app in production mode under gunicorn, as a stranger, a player and an admin.

One server for the module; the limits are raised through settings (GENEROUS and a few more) so
that the fuzzer is not throttled. A fixed seed keeps runs repeatable. The checks' tuning, where
the document cannot say what the server knows (which tokens it signed, which clients exist), is
in schemathesis.toml beside this file, each with its reason.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, clean_postgres, clean_redis, run_id
from tests.integration.conftest import Gunicorn, production_env

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CONFIG = str(Path(__file__).with_name("schemathesis.toml"))
SEED = "20261203"
EXAMPLES = "10"  # per operation and phase; the coverage phase adds its own boundary cases
PASSWORD = "contract-password-1"
DELETE_ME = "DELETE /api/v1/me"
RAISED = {
    "RATELIMIT_LOGIN_FAILURES": "100000/minute",
    "RATELIMIT_FLAGGED_SCORE": "100000/minute",
    "MANUAL_REVIEW_THRESHOLD": str(10**12),
    "ACCESS_TOKEN_TTL": "3600",
}


@pytest.fixture(scope="module")
def server(pg_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """Production mode: gunicorn, two gevent workers, PostgreSQL and Redis, clean state."""
    namespace = f"c{run_id()}"
    clean_postgres(pg_url)
    clean_redis(redis_url, namespace)
    env = production_env(pg_url, redis_url, namespace, **RAISED)
    app = Gunicorn(env, tmp_path_factory.mktemp("contract") / "gunicorn.log")
    app.start()
    for n in range(3):  # ranked players 1-3, so that board, around and rank have real answers
        score(app, register(app, f"ranked{n}")["access_token"])
    yield app
    app.stop()


def score(server: Gunicorn, token: str) -> None:
    """One accepted action for the token's player."""
    auth = {"Authorization": f"Bearer {token}"}
    issued = requests.post(
        f"{server.url}/api/v1/actions/token", json={"action_type": "complete_task"}, headers=auth, timeout=10
    )
    assert issued.status_code == 201, issued.text
    done = requests.post(
        f"{server.url}/api/v1/scores",
        json={"action_token": issued.json()["action_token"]},
        headers=auth,
        timeout=10,
    )
    assert done.status_code == 200, done.text


def register(server: Gunicorn, name: str) -> dict[str, Any]:
    """A new player's token response, through the API."""
    r = requests.post(
        f"{server.url}/api/v1/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return r.json()


def admin_token(server: Gunicorn) -> str:
    """An admin made with `flask users create --admin`, signed in through the API."""
    subprocess.run(
        [str(Path(sys.executable).with_name("flask")), "--app", "wsgi:app", "users", "create", "boss"]
        + ["--email", "boss@example.com", "--password", PASSWORD, "--admin"],
        cwd=ROOT,
        env=server.env,
        check=True,
        capture_output=True,
    )
    r = requests.post(
        f"{server.url}/api/v1/auth/login", json={"username": "boss", "password": PASSWORD}, timeout=10
    )
    assert r.status_code == 200 and "admin" in r.json()["scope"], r.text
    return str(r.json()["access_token"])


def fuzz(server: Gunicorn, *extra: str) -> tuple[str, float]:
    """Run schemathesis over the document; its output and how long it took.

    :raise AssertionError: with the report, when any check failed.
    """
    started = time.monotonic()
    # One worker: with several threads, CPython 3.11.7's ast.parse (Hypothesis reads lambdas'
    # sources) can fail with "AST constructor recursion depth mismatch" (CPython gh-106905).
    run = subprocess.run(
        [SCHEMATHESIS, "--config-file", CONFIG, "run", f"{server.url}/api/v1/openapi.json"]
        + ["--checks", "all", "--seed", SEED, "--max-examples", EXAMPLES, "--workers", "1"]
        + ["--no-color", "--generation-database", "none", *extra],
        cwd=server.log_path.parent,  # its cache (.schemathesis/) goes there, not into the tree
        capture_output=True,
        text=True,
        timeout=300,
    )
    took = time.monotonic() - started
    summary = [line.strip() for line in run.stdout.splitlines() if "generated" in line or "Selected" in line]
    print(f"schemathesis: {took:.1f} s; {'; '.join(summary)}")
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:] + server.errors()
    return run.stdout, took


def bearer(token: str) -> tuple[str, str]:
    return "-H", f"Authorization: Bearer {token}"


def test_as_a_stranger(server: Gunicorn) -> None:
    fuzz(server)


def test_as_a_player(server: Gunicorn) -> None:
    """Every operation but deleting the account (the last test does that, with its own player)."""
    fuzz(
        server,
        *bearer(register(server, "player")["access_token"]),
        "--exclude-operation-id",
        "delete_api_v1_me",
    )


def test_as_an_admin(server: Gunicorn) -> None:
    fuzz(server, *bearer(admin_token(server)), "--exclude-operation-id", "delete_api_v1_me")


def test_deleting_an_account(server: Gunicorn) -> None:
    token = register(server, "leaver")["access_token"]
    fuzz(server, *bearer(token), "--include-operation-id", "delete_api_v1_me")
