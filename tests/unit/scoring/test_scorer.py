"""The scoring pipeline called directly, with a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.audit import Origin
from app.errors import ScoreboardError
from app.models import AuditLog, ScoreEvent, User
from tests.unit.conftest import START, Domain

HERE = Origin.of("192.0.2.7", "unit")


def refused(call, *args) -> ScoreboardError:  # type: ignore[no-untyped-def]
    with pytest.raises(ScoreboardError) as caught:
        call(*args)
    return caught.value


def test_a_token_is_good_until_its_ttl_runs_out_on_the_clock(domain: Domain) -> None:
    scorer, ann = domain.services.scorer, domain.player("ann")
    ttl = scorer.signer.ttl
    late = scorer.issue_token(ann, "complete_task", HERE)
    just_in_time = scorer.issue_token(ann, "complete_task", HERE)
    assert late.expires_at == datetime.fromtimestamp(START + ttl, UTC)
    domain.clock.advance(ttl)
    assert scorer.submit(ann, just_in_time.action_token, HERE).new_score == 10
    domain.clock.advance(1)
    assert refused(scorer.submit, ann, late.action_token, HERE).code == "TOKEN_EXPIRED"


def test_an_accepted_action_is_written_at_the_clocks_time(domain: Domain) -> None:
    scorer, ann = domain.services.scorer, domain.player("ann")
    domain.clock.advance(42.5)
    done = scorer.submit(ann, scorer.issue_token(ann, "complete_task", HERE).action_token, HERE)
    assert (done.new_score, done.rank, done.previous_rank) == (10, 1, None)
    at = datetime.fromtimestamp(START + 42.5, UTC)
    with domain.services.engine.connect() as conn:
        event = conn.execute(select(ScoreEvent.__table__)).one()
        user = conn.execute(select(User.score, User.score_updated_at).where(User.id == ann.user_id)).one()
        audit = conn.execute(select(AuditLog.__table__).where(AuditLog.event == "score.accepted")).one()
    assert (event.points, event.score_after, event.source, event.ip, event.created_at) == (
        10,
        10,
        "action",
        "192.0.2.7",
        at,
    )
    assert tuple(user) == (10, at)
    assert audit.created_at == at and audit.details == {
        "action_id": done.action_id,
        "points": 10,
        "score_after": 10,
    }
    assert done.next_token is not None and done.next_token.expires_at > at


def test_a_timed_ban_ends_when_the_clock_passes_it(domain: Domain) -> None:
    s, ann, boss = domain.services, domain.player("ann"), domain.player("boss")
    s.moderation.ban(boss.user_id, ann.user_id, "cooling off", 600)
    banned = refused(s.scorer.issue_token, ann, "complete_task", HERE)
    assert (banned.code, banned.retry_after) == ("ACCOUNT_BANNED", 600)
    domain.clock.advance(599.5)
    assert refused(s.scorer.issue_token, ann, "complete_task", HERE).retry_after == 1
    domain.clock.advance(0.5)
    token = s.scorer.issue_token(ann, "complete_task", HERE)
    assert s.scorer.submit(ann, token.action_token, HERE).rank == 1
    with s.engine.connect() as conn:
        events = conn.execute(select(AuditLog.event).order_by(AuditLog.id)).scalars().all()
    assert events[:2] == ["admin.ban", "admin.unban"]


def test_a_suspension_lasts_its_penalty_step(domain: Domain) -> None:
    s, ann = domain.services, domain.player("ann")
    token = s.scorer.issue_token(ann, "complete_task", HERE).action_token
    s.rules.suspend(ann.user_id, 0, "RATE_LIMITED", HERE)
    suspended = refused(s.scorer.submit, ann, token, HERE)
    assert (suspended.code, suspended.retry_after) == ("ACCOUNT_SUSPENDED", 60)
    domain.clock.advance(30)
    assert refused(s.scorer.submit, ann, token, HERE).retry_after == 30
    domain.clock.advance(30)
    assert s.scorer.submit(ann, token, HERE).new_score == 10  # a refusal did not burn the token


def test_refusals_are_audited_with_their_reason_and_write_no_score(domain: Domain) -> None:
    s, ann, bob = domain.services, domain.player("ann"), domain.player("bob")
    token = s.scorer.issue_token(ann, "complete_task", HERE).action_token
    assert refused(s.scorer.submit, bob, token, HERE).code == "TOKEN_USER_MISMATCH"
    assert refused(s.scorer.submit, ann, token[:-2] + "xx", HERE).code == "TOKEN_INVALID"
    with s.engine.connect() as conn:
        reasons = conn.execute(
            select(AuditLog.subject_user_id, AuditLog.reason_code).where(AuditLog.event == "score.rejected")
        ).all()
        assert conn.execute(select(ScoreEvent.id)).first() is None
    assert [tuple(r) for r in reasons] == [
        (bob.user_id, "TOKEN_USER_MISMATCH"),
        (ann.user_id, "TOKEN_INVALID"),
    ]
