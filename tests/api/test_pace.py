"""Cooldowns and hourly caps count accepted actions only (SPEC §5), in both run modes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import ScoreEvent
from app.services import services
from tests.conftest import CATALOG, GENEROUS
from tests.helpers import Player, error_code

QUICK = {**CATALOG, "quick_task": {"points": 3, "cooldown_seconds": 1, "max_per_hour": 0}}


def events(app: Flask, user_id: int) -> int:
    with app.app_context():
        return db.session.execute(
            select(func.count()).select_from(ScoreEvent).where(ScoreEvent.user_id == user_id)
        ).scalar_one()


def at_once(app: Flask, player: Player, tokens: list[str]) -> list[Any]:
    """Submit the tokens concurrently, one thread each, released together; the responses."""
    barrier = threading.Barrier(len(tokens))
    answers: list[Any] = []

    def submit(token: str) -> None:
        client = app.test_client()
        barrier.wait()
        answers.append(client.post("/api/v1/scores", json={"action_token": token}, headers=player.auth))

    threads = [threading.Thread(target=submit, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def codes(answers: list[Any]) -> Counter[str]:
    return Counter("OK" if r.status_code == 200 else error_code(r) for r in answers)


def cooled_down(app: Flask, user_id: int, action_type: str, timeout: float = 5.0) -> None:
    """Wait until the action's cooldown has run out for this player."""
    limit = f"1/{QUICK[action_type]['cooldown_seconds']} second"
    with app.app_context():
        limits = services().limits
    deadline = time.monotonic() + timeout
    while limits.peek(limit, "cooldown", user_id, action_type):
        assert time.monotonic() < deadline, "the cooldown did not run out"
        time.sleep(0.02)


def test_a_replay_after_the_cooldown_does_not_start_a_new_one(make_app) -> None:
    """The double click: submit, the cooldown runs out, the same token again (409), then a fresh
    token at once is accepted: the replay did not push the cooldown back."""
    app = make_app(**GENEROUS, ACTION_CATALOG=QUICK)
    ann = Player(app.test_client())
    token, fresh = ann.action_token("quick_task"), ann.action_token("quick_task")
    assert ann.submit(token).status_code == 200
    cooled_down(app, ann.id, "quick_task")
    replay = ann.submit(token)
    assert replay.status_code == 409 and error_code(replay) == "TOKEN_ALREADY_USED"
    accepted = ann.submit(fresh)
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["data"]["new_score"] == 6
    too_soon = ann.submit(ann.action_token("quick_task"))
    assert too_soon.status_code == 429 and error_code(too_soon) == "COOLDOWN"


def test_replays_do_not_use_up_the_hourly_cap(client) -> None:
    ann = Player(client)
    first = ann.action_token("capped_task")
    assert ann.submit(first).status_code == 200
    for _ in range(3):
        replay = ann.submit(first)
        assert replay.status_code == 409 and error_code(replay) == "TOKEN_ALREADY_USED"
    assert ann.submit(ann.action_token("capped_task")).status_code == 200  # the second of 2/hour
    capped = ann.submit(ann.action_token("capped_task"))
    assert capped.status_code == 429 and error_code(capped) == "COOLDOWN"


def test_replays_answer_409_until_the_per_user_limit_then_429(make_app) -> None:
    app = make_app(**{**GENEROUS, "RATELIMIT_SCORE_PER_USER": "5/minute"})
    ann = Player(app.test_client())
    token = ann.action_token()
    assert ann.submit(token).status_code == 200
    replays = [ann.submit(token) for _ in range(5)]
    assert [r.status_code for r in replays] == [409, 409, 409, 409, 429]
    assert error_code(replays[-1]) == "RATE_LIMITED"
    assert events(app, ann.id) == 1


def test_concurrent_submits_of_one_token_are_one_200_and_the_rest_409(app: Flask) -> None:
    ann = Player(app.test_client())
    for action_type in ("complete_task", "capped_task"):  # no cooldown; a cap of 2/hour
        answers = at_once(app, ann, [ann.action_token(action_type)] * 5)
        assert codes(answers) == {"OK": 1, "TOKEN_ALREADY_USED": 4}, action_type
    assert events(app, ann.id) == 2


def test_two_tokens_at_once_inside_one_cooldown_score_once(app: Flask) -> None:
    ann = Player(app.test_client())
    answers = at_once(app, ann, [ann.action_token("slow_task"), ann.action_token("slow_task")])
    assert codes(answers) == {"OK": 1, "COOLDOWN": 1}
    assert events(app, ann.id) == 1
