"""Period keys and bounds (SPEC §14): DST days, gaps at midnight, ISO weeks, month ends, bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.boards.periods import (
    Period,
    PeriodError,
    PeriodState,
    Window,
    bounds,
    current,
    key_at,
    next_boundary,
    parse_key,
    parse_period,
    state,
    weeks_in,
    window,
    zone,
    zone_names,
)

DAILY, WEEKLY, MONTHLY, ALL = Period.DAILY, Period.WEEKLY, Period.MONTHLY, Period.ALL
DATED = [DAILY, WEEKLY, MONTHLY]
TICK = timedelta(microseconds=1)
HOUR = timedelta(hours=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def length(period: Period, key: str, name: str) -> timedelta:
    starts_at, ends_at = bounds(period, key, zone(name))
    assert starts_at is not None and ends_at is not None
    return ends_at - starts_at


# --- DST days --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "day", "starts_at", "hours"),
    [
        ("Europe/Berlin", "2026-03-29", utc(2026, 3, 28, 23), 23),  # CET → CEST at 02:00
        ("Europe/Berlin", "2026-10-25", utc(2026, 10, 24, 22), 25),  # CEST → CET at 03:00
        ("Europe/Berlin", "2026-10-26", utc(2026, 10, 25, 23), 24),
        ("America/New_York", "2026-03-08", utc(2026, 3, 8, 5), 23),  # EST → EDT at 02:00
        ("America/New_York", "2026-11-01", utc(2026, 11, 1, 4), 25),  # EDT → EST at 02:00
        ("UTC", "2026-12-02", utc(2026, 12, 2), 24),
    ],
)
def test_a_day_runs_from_local_midnight_to_the_next(
    name: str, day: str, starts_at: datetime, hours: int
) -> None:
    assert bounds(DAILY, day, zone(name)) == (starts_at, starts_at + hours * HOUR)


@pytest.mark.parametrize(
    ("name", "midnight", "before", "after"),
    [
        ("Europe/Berlin", utc(2026, 3, 28, 23), "2026-03-28", "2026-03-29"),
        ("Europe/Berlin", utc(2026, 3, 29, 22), "2026-03-29", "2026-03-30"),
        ("Europe/Berlin", utc(2026, 10, 24, 22), "2026-10-24", "2026-10-25"),
        ("Europe/Berlin", utc(2026, 10, 25, 23), "2026-10-25", "2026-10-26"),
        ("America/New_York", utc(2026, 3, 8, 5), "2026-03-07", "2026-03-08"),
        ("America/New_York", utc(2026, 11, 2, 5), "2026-11-01", "2026-11-02"),
    ],
)
def test_the_day_changes_exactly_at_local_midnight(
    name: str, midnight: datetime, before: str, after: str
) -> None:
    tz = zone(name)
    assert key_at(DAILY, midnight - TICK, tz) == before
    assert key_at(DAILY, midnight, tz) == after


def test_the_repeated_hour_of_a_fall_back_belongs_to_its_day() -> None:
    tz = zone("America/New_York")  # 01:00–02:00 is read twice on 2026-11-01
    first, second = utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)
    assert key_at(DAILY, first, tz) == key_at(DAILY, second, tz) == "2026-11-01"


# --- midnight skipped or read twice ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "day", "starts_at", "hours"),
    [
        # Clocks jump from 00:00 to 01:00: the day starts at the first valid instant, 01:00.
        ("America/Santiago", "2022-09-11", utc(2022, 9, 11, 4), 23),
        ("Asia/Beirut", "2022-03-27", utc(2022, 3, 26, 22), 23),
        ("America/Havana", "2026-03-08", utc(2026, 3, 8, 5), 23),
        # Clocks go back from 24:00 to 23:00: the day before is 25 hours, this one starts once.
        ("America/Santiago", "2022-04-03", utc(2022, 4, 3, 4), 24),
        ("America/Santiago", "2022-04-02", utc(2022, 4, 2, 3), 25),
    ],
)
def test_a_day_whose_midnight_is_skipped_starts_when_the_clocks_jump(
    name: str, day: str, starts_at: datetime, hours: int
) -> None:
    assert bounds(DAILY, day, zone(name)) == (starts_at, starts_at + hours * HOUR)


def test_the_first_valid_instant_of_a_gap_day_is_on_that_day() -> None:
    tz = zone("America/Santiago")
    assert key_at(DAILY, utc(2022, 9, 11, 4) - TICK, tz) == "2022-09-10"
    assert key_at(DAILY, utc(2022, 9, 11, 4), tz) == "2022-09-11"
    assert utc(2022, 9, 11, 4).astimezone(tz).hour == 1


def test_midnight_read_twice_within_one_day_starts_the_day_at_the_first_reading() -> None:
    tz = zone("America/Havana")  # 2026-11-01: 01:00 CDT → 00:00 CST; 00:00–01:00 is read twice
    assert bounds(DAILY, "2026-11-01", tz) == (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))
    assert key_at(DAILY, utc(2026, 11, 1, 4, 30), tz) == "2026-11-01"


def test_a_day_never_reopens_when_clocks_go_back_across_midnight() -> None:
    tz = zone("America/St_Johns")  # 2006-10-29 00:01 NDT → 2006-10-28 23:01 NST
    first_midnight, second_midnight = utc(2006, 10, 29, 2, 30), utc(2006, 10, 29, 3, 30)
    assert (first_midnight + timedelta(seconds=30)).astimezone(tz).date() == date(2006, 10, 29)
    # The clocks read the 29th for one minute, then the 28th again: the 29th starts once, later.
    assert key_at(DAILY, first_midnight + timedelta(seconds=30), tz) == "2006-10-28"
    assert key_at(DAILY, second_midnight - TICK, tz) == "2006-10-28"
    assert key_at(DAILY, second_midnight, tz) == "2006-10-29"
    assert length(DAILY, "2006-10-28", "America/St_Johns") == 25 * HOUR


def test_a_skipped_day_is_empty_and_never_current() -> None:
    tz = zone("Pacific/Apia")  # 2011-12-29 24:00 (UTC−10) became 2011-12-31 00:00 (UTC+14)
    jump = utc(2011, 12, 30, 10)
    assert bounds(DAILY, "2011-12-30", tz) == (jump, jump)
    assert [key_at(DAILY, jump - TICK, tz), key_at(DAILY, jump, tz)] == ["2011-12-29", "2011-12-31"]
    assert state(DAILY, "2011-12-30", jump - TICK, tz) is PeriodState.FUTURE
    assert state(DAILY, "2011-12-30", jump, tz) is PeriodState.PAST


# --- ISO weeks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "week"),
    [
        (date(2021, 1, 3), "2020-W53"),  # a Sunday: still 2020's last week
        (date(2021, 1, 4), "2021-W01"),
        (date(2025, 12, 31), "2026-W01"),  # a Wednesday: the week of 2026's first Thursday
        (date(2026, 12, 31), "2026-W53"),  # 2026 starts on a Thursday: it has 53 weeks
        (date(2027, 1, 3), "2026-W53"),
        (date(2027, 1, 4), "2027-W01"),
        (date(2033, 1, 2), "2032-W53"),
        (date(2026, 12, 2), "2026-W49"),
    ],
)
def test_weeks_are_iso_weeks(day: date, week: str) -> None:
    noon = datetime.combine(day, datetime.min.time(), UTC) + 12 * HOUR
    assert key_at(WEEKLY, noon, zone("UTC")) == week


def test_a_week_runs_monday_to_monday_across_a_year_end() -> None:
    assert bounds(WEEKLY, "2026-W01", zone("UTC")) == (utc(2025, 12, 29), utc(2026, 1, 5))
    assert bounds(WEEKLY, "2020-W53", zone("UTC")) == (utc(2020, 12, 28), utc(2021, 1, 4))
    assert bounds(WEEKLY, "2026-W49", zone("Europe/Berlin")) == (utc(2026, 11, 29, 23), utc(2026, 12, 6, 23))


def test_week_53_exists_only_in_long_years() -> None:
    assert [year for year in range(2020, 2034) if weeks_in(year) == 53] == [2020, 2026, 2032]
    assert parse_key(WEEKLY, "2020-W53") == "2020-W53"
    for key in ("2021-W53", "2025-W53", "2027-W53"):
        with pytest.raises(PeriodError, match="W01..W52"):
            parse_key(WEEKLY, key)


def test_a_week_with_a_dst_change_is_an_hour_short_or_long() -> None:
    assert length(WEEKLY, "2026-W13", "Europe/Berlin") == 7 * 24 * HOUR - HOUR  # holds 29 March
    assert length(WEEKLY, "2026-W43", "Europe/Berlin") == 7 * 24 * HOUR + HOUR  # holds 25 October


# --- months --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "starts_at", "ends_at"),
    [
        ("2026-01", utc(2026, 1, 1), utc(2026, 2, 1)),
        ("2026-02", utc(2026, 2, 1), utc(2026, 3, 1)),
        ("2028-02", utc(2028, 2, 1), utc(2028, 3, 1)),
        ("2026-12", utc(2026, 12, 1), utc(2027, 1, 1)),
    ],
)
def test_months_are_calendar_months(month: str, starts_at: datetime, ends_at: datetime) -> None:
    assert bounds(MONTHLY, month, zone("UTC")) == (starts_at, ends_at)


def test_month_ends_roll_over_at_local_midnight() -> None:
    tz = zone("Europe/Berlin")
    assert key_at(MONTHLY, utc(2026, 1, 31, 22, 59, 59), tz) == "2026-01"
    assert key_at(MONTHLY, utc(2026, 1, 31, 23), tz) == "2026-02"
    assert key_at(DAILY, utc(2028, 2, 29, 12), tz) == "2028-02-29"
    assert key_at(MONTHLY, utc(2026, 12, 31, 23), tz) == "2027-01"
    assert key_at(WEEKLY, utc(2026, 12, 31, 23), tz) == "2026-W53"  # Friday 1 January 2027


# --- zones far apart --------------------------------------------------------------------------


def test_the_same_instant_falls_on_different_days_across_the_date_line() -> None:
    instant = utc(2026, 12, 2, 10, 30)
    assert key_at(DAILY, instant, zone("Pacific/Kiritimati")) == "2026-12-03"  # UTC+14: 00:30
    assert key_at(DAILY, instant, zone("Pacific/Pago_Pago")) == "2026-12-01"  # UTC−11: 23:30
    assert key_at(DAILY, instant, zone("UTC")) == "2026-12-02"
    assert bounds(DAILY, "2026-12-03", zone("Pacific/Kiritimati"))[0] == utc(2026, 12, 2, 10)
    assert bounds(DAILY, "2026-12-01", zone("Pacific/Pago_Pago"))[1] == utc(2026, 12, 2, 11)


def test_instants_in_any_offset_mean_the_same_moment() -> None:
    berlin = zone("Europe/Berlin")
    local = datetime(2026, 12, 2, 0, 30, tzinfo=berlin)
    assert key_at(DAILY, local, zone("UTC")) == "2026-12-01"
    assert key_at(DAILY, local, berlin) == "2026-12-02"
    with pytest.raises(ValueError, match="aware"):
        key_at(DAILY, datetime(2026, 12, 2), berlin)


# --- all-time -----------------------------------------------------------------------------------


def test_all_time_has_one_key_and_no_bounds() -> None:
    tz = zone("Europe/Berlin")
    assert key_at(ALL, utc(2026, 12, 2), tz) == "all"
    assert bounds(ALL, "all", tz) == (None, None)
    assert state(ALL, "all", utc(1999, 1, 1), tz) is PeriodState.CURRENT
    assert window(ALL, "all", tz) == Window(ALL, "all", None, None)


# --- past, current, future -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "key", "expected"),
    [
        (DAILY, "2026-12-01", PeriodState.PAST),
        (DAILY, "2026-12-02", PeriodState.CURRENT),
        (DAILY, "2026-12-03", PeriodState.FUTURE),
        (WEEKLY, "2026-W48", PeriodState.PAST),
        (WEEKLY, "2026-W49", PeriodState.CURRENT),
        (WEEKLY, "2027-W01", PeriodState.FUTURE),
        (MONTHLY, "2025-12", PeriodState.PAST),
        (MONTHLY, "2026-12", PeriodState.CURRENT),
        (MONTHLY, "2027-01", PeriodState.FUTURE),
    ],
)
def test_state_of_a_key(period: Period, key: str, expected: PeriodState) -> None:
    assert state(period, key, utc(2026, 12, 2, 12), zone("Europe/Berlin")) is expected


def test_a_period_is_past_from_the_instant_it_ends() -> None:
    tz = zone("Europe/Berlin")
    ends_at = utc(2026, 12, 2, 23)
    assert state(DAILY, "2026-12-02", ends_at - TICK, tz) is PeriodState.CURRENT
    assert state(DAILY, "2026-12-02", ends_at, tz) is PeriodState.PAST
    assert state(DAILY, "2026-12-03", ends_at - TICK, tz) is PeriodState.FUTURE


# --- current and next boundary -------------------------------------------------------------------


def test_current_gives_each_kept_period_with_its_bounds() -> None:
    tz = zone("Europe/Berlin")
    windows = current([ALL, DAILY, WEEKLY, MONTHLY], utc(2026, 12, 2, 12), tz)
    assert list(windows) == [ALL, DAILY, WEEKLY, MONTHLY]
    assert windows[ALL] == Window(ALL, "all", None, None)
    assert windows[DAILY] == Window(DAILY, "2026-12-02", utc(2026, 12, 1, 23), utc(2026, 12, 2, 23))
    assert windows[WEEKLY] == Window(WEEKLY, "2026-W49", utc(2026, 11, 29, 23), utc(2026, 12, 6, 23))
    assert windows[MONTHLY] == Window(MONTHLY, "2026-12", utc(2026, 11, 30, 23), utc(2026, 12, 31, 23))


@pytest.mark.parametrize(
    ("periods", "now", "boundary"),
    [
        ([DAILY], utc(2026, 3, 28, 12), utc(2026, 3, 28, 23)),
        ([DAILY], utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),  # the 23-hour day
        ([DAILY], utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),  # the 25-hour day
        ([WEEKLY], utc(2026, 10, 20, 12), utc(2026, 10, 25, 23)),  # the week ends after the change
        ([MONTHLY], utc(2026, 3, 15), utc(2026, 3, 31, 22)),  # March ends in summer time
        ([ALL, WEEKLY, MONTHLY], utc(2026, 3, 30, 12), utc(2026, 3, 31, 22)),  # the month first
        ([ALL, WEEKLY, MONTHLY], utc(2026, 3, 26, 12), utc(2026, 3, 29, 22)),  # the week first
        ([ALL, DAILY, WEEKLY], utc(2026, 3, 29, 21, 59, 59), utc(2026, 3, 29, 22)),  # both at once
    ],
)
def test_next_boundary_is_the_earliest_rollover(
    periods: list[Period], now: datetime, boundary: datetime
) -> None:
    assert next_boundary(periods, now, zone("Europe/Berlin")) == boundary


def test_next_boundary_of_all_time_alone_is_none() -> None:
    assert next_boundary([ALL], utc(2026, 12, 2), zone("UTC")) is None
    assert next_boundary([], utc(2026, 12, 2), zone("UTC")) is None


def test_next_boundary_across_a_gap_at_midnight() -> None:
    tz = zone("America/Santiago")
    assert next_boundary([DAILY], utc(2022, 9, 10, 12), tz) == utc(2022, 9, 11, 4)


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "key", "message"),
    [
        (DAILY, "2026-12-2", "expected the form 2026-12-02"),
        (DAILY, "2026-13-01", "month must be in 01..12"),
        (DAILY, "2026-04-31", "not a day of the calendar"),
        (DAILY, "2027-02-29", "not a day of the calendar"),
        (DAILY, "2026-00-10", "month must be in 01..12"),
        (DAILY, "2026-12-00", "not a day of the calendar"),
        (DAILY, "2026-W49", "it is a weekly key"),
        (DAILY, "all", "it is the all-time key"),
        (DAILY, " 2026-12-02", "expected the form"),
        (DAILY, "2026-12-02\n", "expected the form"),
        (DAILY, "٢٠٢٦-١٢-٠٢", "expected the form"),  # Arabic-Indic digits are not ASCII digits
        (DAILY, "0999-12-31", "year must be in"),
        (WEEKLY, "2026-W54", "W01..W53"),
        (WEEKLY, "2026-W00", "W01..W53"),
        (WEEKLY, "2026-w49", "expected the form 2026-W49"),
        (WEEKLY, "2026-W1", "expected the form"),
        (WEEKLY, "2026-12", "it is a monthly key"),
        (MONTHLY, "2026-13", "month must be in 01..12"),
        (MONTHLY, "2026-1", "expected the form 2026-12"),
        (MONTHLY, "2026-12-02", "it is a daily key"),
        (MONTHLY, "", "expected the form"),
        (ALL, "2026", "expected the form all"),
        (ALL, "ALL", "expected the form all"),
    ],
)
def test_malformed_keys_are_refused(period: Period, key: str, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_key(period, key)
    with pytest.raises(ValueError):  # what an API layer answers with 400 INVALID_REQUEST
        bounds(period, key, zone("UTC"))


def test_a_long_key_is_cut_short_in_the_message() -> None:
    with pytest.raises(PeriodError) as refused:
        parse_key(DAILY, "9" * 10_000)
    assert len(str(refused.value)) < 120


def test_period_names() -> None:
    assert [parse_period(name) for name in ("all", "daily", "weekly", "monthly")] == [ALL, *DATED]
    for name in ("yearly", "Daily", ""):
        with pytest.raises(PeriodError, match="unknown period"):
            parse_period(name)


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_known_zones(name: str) -> None:
    assert zone(name).key == name


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus",
        "europe/berlin",
        "",
        "Europe/",
        "../etc/passwd",
        "/etc/localtime",
        "localtime",
        "+01:00",
    ],
)
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(PeriodError, match="unknown timezone"):
        zone(name)


# --- properties -----------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(sorted(zone_names())).map(zone)
dated = st.sampled_from(DATED)
examples = settings(max_examples=150, deadline=None)


@examples
@given(dated, instants, zones)
def test_the_period_of_an_instant_contains_it(period: Period, instant: datetime, tz: ZoneInfo) -> None:
    key = key_at(period, instant, tz)
    starts_at, ends_at = bounds(period, key, tz)
    assert starts_at is not None and ends_at is not None
    assert starts_at <= instant < ends_at
    assert parse_key(period, key) == key
    assert state(period, key, instant, tz) is PeriodState.CURRENT


@examples
@given(dated, instants, zones)
def test_consecutive_periods_tile_time(period: Period, instant: datetime, tz: ZoneInfo) -> None:
    key = key_at(period, instant, tz)
    _, ends_at = bounds(period, key, tz)
    assert ends_at is not None
    following = key_at(period, ends_at, tz)
    assert following > key
    assert key_at(period, ends_at - TICK, tz) == key
    assert bounds(period, following, tz)[0] == ends_at
    assert state(period, key, ends_at, tz) is PeriodState.PAST
    assert state(period, following, ends_at - TICK, tz) is PeriodState.FUTURE


@examples
@given(st.dates(min_value=date(1971, 1, 1), max_value=date(2199, 12, 30)), zones)
def test_a_day_ends_where_the_next_begins(day: date, tz: ZoneInfo) -> None:
    today = window(DAILY, day.isoformat(), tz)
    tomorrow = window(DAILY, (day + timedelta(days=1)).isoformat(), tz)
    assert today.ends_at == tomorrow.starts_at
    assert today.starts_at is not None and today.ends_at is not None
    assert timedelta(0) <= today.ends_at - today.starts_at <= 48 * HOUR


@examples
@given(dated, instants, instants, zones)
def test_keys_never_go_backwards(period: Period, one: datetime, other: datetime, tz: ZoneInfo) -> None:
    earlier, later = sorted([one, other])
    assert key_at(period, earlier, tz) <= key_at(period, later, tz)


@examples
@given(dated, instants, zones)
def test_next_boundary_is_after_now_and_starts_a_new_key(period: Period, now: datetime, tz: ZoneInfo) -> None:
    boundary = next_boundary([ALL, period], now, tz)
    assert boundary is not None and boundary > now
    assert key_at(period, boundary, tz) != key_at(period, now, tz)
