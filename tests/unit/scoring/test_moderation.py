"""Moderation through the ledger: each act one transaction, published after it commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from app.admin.review import resolve_flag
from app.audit import Origin
from app.auth.privacy import erase_user
from app.errors import ScoreboardError
from app.models import AuditLog, FraudFlag, ScoreEvent, User
from tests.unit.conftest import START, Domain

HERE = Origin.of("192.0.2.9", "unit")


def score(domain: Domain, username: str, times: int) -> int:
    """A player who has done `times` accepted actions; their id."""
    who = domain.player(username)
    token = domain.services.scorer.issue_token(who, "complete_task", HERE).action_token
    for _ in range(times):
        done = domain.services.scorer.submit(who, token, HERE)
        assert done.next_token is not None
        token = done.next_token.action_token
    return who.user_id


def board(domain: Domain) -> list[tuple[int, int]]:
    """(user id, score) of the top 10."""
    return [(s.user_id, s.score) for s in domain.services.standings.top(10)[0]]


def count(domain: Domain, table: type, *where: object) -> int:
    with domain.services.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_a_ban_lasts_its_duration_from_the_clock(domain: Domain) -> None:
    m, ann = domain.services.moderation, score(domain, "ann", 1)
    placement = m.ban(None, ann, "spam", 3600, HERE)
    assert placement.rank is None and board(domain) == []
    with domain.services.engine.connect() as conn:
        until = conn.execute(select(User.banned_until).where(User.id == ann)).scalar_one()
        audit = conn.execute(select(AuditLog.__table__).where(AuditLog.event == "admin.ban")).one()
    assert until == datetime.fromtimestamp(START, UTC) + timedelta(hours=1)
    assert (audit.reason_code, audit.details, audit.ip) == (
        "spam",
        {"duration_seconds": 3600, "reason": "spam"},
        "192.0.2.9",
    )


def test_reset_records_the_score_it_took_away(domain: Domain) -> None:
    m, ann, bob = domain.services.moderation, score(domain, "ann", 3), score(domain, "bob", 1)
    assert m.reset(None, ann, "cheating", HERE).rank is None
    assert board(domain) == [(bob, 10)]
    with domain.services.engine.connect() as conn:
        event = conn.execute(select(ScoreEvent.__table__).where(ScoreEvent.source == "admin")).one()
        audit = conn.execute(select(AuditLog.details).where(AuditLog.event == "admin.reset")).scalar_one()
    assert (event.user_id, event.points, event.score_after, event.action_type) == (ann, -30, 0, "admin_reset")
    assert audit == {"previous_score": 30, "score_after": 0, "reason": "cheating"}
    assert m.adjust(None, ann, 5, "goodwill", HERE).rank == 2  # back on the board with what it adds
    assert board(domain) == [(bob, 10), (ann, 5)]


def test_a_failing_statement_of_the_same_transaction_writes_nothing(domain: Domain) -> None:
    m, ann = domain.services.moderation, score(domain, "ann", 1)
    assert board(domain) == [(ann, 10)]
    domain.services.writer.wait()  # a first read may have rebuilt the index in the background
    seq_before = domain.services.standings.board_state()[0]

    def fails(conn: Connection) -> None:
        conn.execute(text("UPDATE users SET display_name = 'changed' WHERE id = :id"), {"id": ann})
        raise ScoreboardError("INVALID_REQUEST", "already resolved")

    with pytest.raises(ScoreboardError):
        m.ban(None, ann, "flag confirmed", None, HERE, fails)
    with domain.services.engine.connect() as conn:
        user = conn.execute(select(User.is_banned, User.display_name).where(User.id == ann)).one()
    assert tuple(user) == (False, "Ann")
    assert count(domain, AuditLog, AuditLog.event == "admin.ban") == 0
    assert board(domain) == [(ann, 10)] and domain.services.standings.board_state()[0] == seq_before


def test_an_unknown_player_is_not_found_and_nothing_is_written(domain: Domain) -> None:
    m = domain.services.moderation
    for act in ("ban", "unban", "hide", "unhide", "adjust", "reset"):
        with pytest.raises(ScoreboardError) as caught:
            m.act(act, 1, 999_999, "test", HERE, points=5)
        assert caught.value.code == "NOT_FOUND", act
    assert count(domain, AuditLog) == 0 and count(domain, ScoreEvent) == 0


def test_erasure_takes_the_player_off_the_board_and_anonymises_in_one_step(domain: Domain) -> None:
    ann, bob = score(domain, "ann", 2), score(domain, "bob", 1)
    erase_user(domain.services.moderation, ann)
    assert board(domain) == [(bob, 10)]
    with domain.services.engine.connect() as conn:
        user = conn.execute(
            select(User.username, User.is_deleted, User.is_hidden).where(User.id == ann)
        ).one()
        kept = conn.execute(select(ScoreEvent.points).where(ScoreEvent.user_id.is_(None))).scalars().all()
        ips = conn.execute(select(AuditLog.ip).where(AuditLog.subject_user_id == ann)).scalars().all()
    assert tuple(user) == (f"deleted-{ann}", True, True)
    assert kept == [10, 10]  # the history stays, no longer tied to the person
    assert set(ips) == {None}
    with pytest.raises(ScoreboardError):
        domain.services.moderation.adjust(None, ann, 5, "too late", HERE)  # gone for good


def test_confirming_a_flag_and_its_ban_commit_together(domain: Domain) -> None:
    s, ann, bob = domain.services, score(domain, "ann", 1), score(domain, "bob", 1)
    for uid in (ann, bob):
        s.rules.flag(uid, "burst", "high", {"count": 9})
    with s.engine.connect() as conn:
        ann_flag, bob_flag = conn.execute(select(FraudFlag.id).order_by(FraudFlag.id)).scalars().all()
    resolved = resolve_flag(s.engine, s.moderation, 1, ann_flag, "confirmed", "bot", HERE)
    assert resolved["status"] == "confirmed" and board(domain) == [(bob, 10)]
    erase_user(s.moderation, bob)
    with pytest.raises(ScoreboardError) as caught:  # the ban cannot be written: neither is the flag
        resolve_flag(s.engine, s.moderation, 1, bob_flag, "confirmed", "bot", HERE)
    assert caught.value.code == "NOT_FOUND"
    with s.engine.connect() as conn:
        statuses = conn.execute(select(FraudFlag.status).order_by(FraudFlag.id)).scalars().all()
        banned = conn.execute(select(User.is_banned).where(User.id == ann)).scalar_one()
    assert statuses == ["confirmed", "open"] and banned
    assert count(domain, AuditLog, AuditLog.event == "admin.flag_confirmed") == 1
