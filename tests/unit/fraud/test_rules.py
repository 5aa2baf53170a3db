"""Fraud rules called directly, with a clock the test moves (thresholds set in the fixture:
burst 3, manual review above 50, 2 accounts per address)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from app.audit import Origin, audit_row
from app.models import AuditLog, FraudFlag, User
from tests.unit.conftest import START, Domain

ADDRESS = Origin.of("198.51.100.4", "unit")


def flags(domain: Domain) -> list[tuple[int, str, str]]:
    with domain.services.engine.connect() as conn:
        rows = conn.execute(
            select(FraudFlag.user_id, FraudFlag.rule, FraudFlag.severity).order_by(FraudFlag.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def registered(domain: Domain, name: str, hours_ago: float) -> int:
    """A player whose sign-up from ADDRESS was `hours_ago` before the clock."""
    uid = domain.player(name).user_id
    at = datetime.fromtimestamp(domain.clock(), UTC) - timedelta(hours=hours_ago)
    with domain.services.engine.begin() as conn:
        conn.execute(
            insert(AuditLog).values(audit_row("auth.register", "success", ADDRESS, subject=uid, at=at))
        )
    return uid


def check_registration(domain: Domain, uid: int) -> None:
    with domain.services.engine.begin() as conn:
        domain.services.rules.registration(conn, uid, ADDRESS)


def test_accounts_per_address_count_the_last_24_hours_of_the_clock(domain: Domain) -> None:
    registered(domain, "old", hours_ago=25)
    registered(domain, "recent", hours_ago=2)
    second = registered(domain, "second", hours_ago=0)
    check_registration(domain, second)
    assert flags(domain) == []  # 2 in the window: at the limit
    third = registered(domain, "third", hours_ago=0)
    check_registration(domain, third)
    assert flags(domain) == [(third, "accounts_per_ip", "low")]
    domain.clock.advance(23 * 3600)  # "recent" drops out of the window; the other two stay
    fourth = registered(domain, "fourth", hours_ago=0)
    check_registration(domain, fourth)
    assert flags(domain)[-1] == (fourth, "accounts_per_ip", "low")
    domain.clock.advance(2 * 3600)
    fifth = registered(domain, "fifth", hours_ago=0)
    check_registration(domain, fifth)
    assert len(flags(domain)) == 2


def test_suspensions_step_up_through_the_penalty_steps(domain: Domain) -> None:
    rules, uid = domain.services.rules, domain.player("ann").user_id
    now = datetime.fromtimestamp(START, UTC)
    seen = []
    for level in (0, 1, 2, 7):
        rules.suspend(uid, level, "RATE_LIMITED", ADDRESS)
        with domain.services.engine.connect() as conn:
            row = conn.execute(select(User.suspended_until, User.penalty_level).where(User.id == uid)).one()
        seen.append(((row.suspended_until - now).total_seconds(), row.penalty_level))
    assert seen == [(60, 1), (300, 2), (3600, 3), (3600, 8)]


def test_manual_review_flags_once_when_the_score_crosses_the_threshold(domain: Domain) -> None:
    rules, uid = domain.services.rules, domain.player("ann").user_id
    rules.after_accept(uid, 10, 30, 40, [0, 0])
    assert flags(domain) == []
    rules.after_accept(uid, 20, 40, 60, [0, 0])
    rules.after_accept(uid, 20, 60, 80, [0, 0])  # already past: no second flag
    assert flags(domain) == [(uid, "manual_review", "medium")]
    with domain.services.engine.connect() as conn:
        flagged = conn.execute(
            select(User.is_flagged, FraudFlag.created_at).join(FraudFlag, FraudFlag.user_id == User.id)
        ).one()
    assert tuple(flagged) == (True, datetime.fromtimestamp(START, UTC))


def test_burst_and_velocity_counters_flag_high_and_medium(domain: Domain) -> None:
    rules, uid = domain.services.rules, domain.player("ann").user_id
    rules.after_accept(uid, 10, 0, 10, [1, 0])
    rules.after_accept(uid, 10, 10, 20, [1, 1])
    assert flags(domain) == [(uid, "burst", "high"), (uid, "velocity", "medium")]  # one open flag per rule
