"""flask boards create / list (SPEC §14), in both run modes."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from tests.conftest import CATALOG

CUP = ["boards", "create", "spring-cup", "--title", "Spring Cup"]


def test_create_and_list(app: Flask) -> None:
    cli = app.test_cli_runner()
    catalog = json.dumps({"jump": {"points": 3}})
    args = [*CUP, "--periods", "weekly,daily", "--timezone", "Europe/Berlin", "--catalog", catalog]
    r = cli.invoke(args=args)
    assert r.exit_code == 0, r.output
    assert "created board spring-cup (all, daily, weekly; Europe/Berlin)" in r.output
    r = cli.invoke(args=["boards", "create", "plain", "--title", "Plain"])
    assert r.exit_code == 0, r.output
    lines = cli.invoke(args=["boards", "list"]).output.splitlines()
    assert lines == [
        "main\tall\tUTC\tLeaderboard",
        "plain\tall\tUTC\tPlain",
        "spring-cup\tall,daily,weekly\tEurope/Berlin\tSpring Cup",
    ]
    board = app.test_client().get("/api/v1/boards/plain").get_json()
    assert set(board["catalog"]) == set(CATALOG)  # no --catalog: a copy of the deployment's


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--periods", "daily,daily"], "each period at most once"),
        (["--periods", "yearly"], "unknown period"),
        (["--timezone", "Mars/Base"], "unknown timezone"),
        (["--catalog", "{"], "not JSON"),
        (["--catalog", '{"jump": {}}'], "needs 'points'"),
        (["--catalog", "[]"], "catalog"),
    ],
)
def test_bad_input_fails_clearly(app: Flask, extra: list[str], message: str) -> None:
    r = app.test_cli_runner().invoke(args=[*CUP, *extra])
    assert r.exit_code != 0 and message in r.output, r.output
    assert "spring-cup" not in app.test_cli_runner().invoke(args=["boards", "list"]).output


def test_taken_and_bad_slugs(app: Flask) -> None:
    cli = app.test_cli_runner()
    r = cli.invoke(args=["boards", "create", "main", "--title", "Again"])
    assert r.exit_code == 1 and "ALREADY_EXISTS" in r.output
    r = cli.invoke(args=["boards", "create", "Bad_Slug", "--title", "x"])
    assert r.exit_code == 1 and "INVALID_REQUEST: slug" in r.output
    r = cli.invoke(args=["boards", "create", "nameless"])
    assert r.exit_code != 0 and "--title" in r.output
