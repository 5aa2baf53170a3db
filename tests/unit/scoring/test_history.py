"""History buckets (app/scoring/history.py): where buckets end, what a span covers, and the score at
each end from real score events written by the scorer under a fake clock. Both run modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.audit import Origin
from app.boards import periods as p
from app.errors import ScoreboardError
from app.scoring import history
from tests.unit.conftest import Domain

ALL = p.Window(p.Period.ALL, "all", None, None)
UTC_ZONE = p.zone("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_hours_end_on_the_hour_and_the_last_one_at_the_end() -> None:
    s = history.span(
        ALL, "hour", UTC_ZONE, at("2027-01-15T12:00"), at("2027-01-15T08:20"), at("2027-01-15T10:45")
    )
    assert history.bucket_ends(s) == [at("2027-01-15T09:00"), at("2027-01-15T10:00"), at("2027-01-15T10:45")]


def test_days_follow_the_boards_zone_across_a_daylight_saving_change() -> None:
    ny = p.zone("America/New_York")  # 2026-03-08 has 23 hours there
    s = history.span(ALL, "day", ny, at("2026-03-10T12:00"), at("2026-03-07T12:00"), at("2026-03-10T12:00"))
    assert history.bucket_ends(s) == [
        at("2026-03-08T05:00"),  # midnight EST
        at("2026-03-09T04:00"),  # midnight EDT: 23 hours later
        at("2026-03-10T04:00"),
        at("2026-03-10T12:00"),
    ]


def test_a_span_stays_inside_its_period_and_before_now() -> None:
    day = p.window(p.Period.DAILY, "2027-01-15", UTC_ZONE)
    s = history.span(day, "hour", UTC_ZONE, at("2027-01-15T03:30"), None, None)
    assert (s.start, s.end) == (at("2027-01-15T00:00"), at("2027-01-15T03:30"))
    assert len(history.bucket_ends(s)) == 4


@pytest.mark.parametrize(
    ("bucket", "since"),
    [("hour", "2026-10-01T00:00"), ("day", "2020-01-01T00:00"), ("hour", "2027-01-16T00:00")],
)
def test_spans_too_long_or_empty_are_refused(bucket: history.Bucket, since: str) -> None:
    with pytest.raises(ScoreboardError) as refused:
        history.span(ALL, bucket, UTC_ZONE, at("2027-01-15T12:00"), at(since), None)
    assert refused.value.code == "INVALID_REQUEST"


def test_2000_hours_is_the_most_one_answer_holds() -> None:
    now = at("2027-01-15T12:00")
    s = history.span(ALL, "hour", UTC_ZONE, now, now - timedelta(hours=2000), None)
    assert len(history.bucket_ends(s)) == 2000


def test_scores_at_each_hour_from_the_events(domain: Domain) -> None:
    services, clock = domain.services, domain.clock
    services.boards.create(None, Origin(), "cup", "Cup", {"jump": {"points": 3}}, ("daily",), "UTC")
    ann = domain.player("ann")
    clock.now = at("2027-01-15T08:10").timestamp()

    def jump() -> None:
        token = services.scorer.issue_token(ann, "jump", Origin(), "cup")
        services.scorer.submit(ann, token.action_token, Origin())

    jump()  # 08:10
    clock.advance(30 * 60)
    jump()  # 08:40
    clock.advance(2 * 3600)
    jump()  # 10:40
    services.moderation.adjust(None, ann.user_id, 4, "bonus", board="cup")  # 10:40
    clock.advance(20 * 60)  # 11:00
    s = history.span(ALL, "hour", UTC_ZONE, services.streams.now(), at("2027-01-15T07:00"), None)
    with services.engine.connect() as conn:
        got = history.points(conn, ann.user_id, "cup", s)
    assert got == [
        (at("2027-01-15T08:00"), 0),
        (at("2027-01-15T09:00"), 6),
        (at("2027-01-15T10:00"), 6),
        (at("2027-01-15T11:00"), 13),
    ]
    services.moderation.reset(None, ann.user_id, "cheat", board="cup")
    clock.advance(3600)
    jump()  # 12:00, after the reset
    clock.advance(60)
    day = p.window(p.Period.DAILY, "2027-01-15", UTC_ZONE)
    s = history.span(day, "hour", UTC_ZONE, services.streams.now(), at("2027-01-15T10:00"), None)
    with services.engine.connect() as conn:
        got = history.points(conn, ann.user_id, "cup", s)
    # 11:00: the day so far (the reset comes at 11:00); 12:00: reset, the 12:00 action not yet in
    assert [(t.strftime("%H:%M"), score) for t, score in got] == [("11:00", 13), ("12:00", 0), ("12:01", 3)]
