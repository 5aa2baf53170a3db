"""Period kinds, their keys and their bounds in a board's timezone (SPEC §14). Pure: no IO.

Instants are aware datetimes (any offset; results are in UTC). A dated period is a run of local
days: a week is Monday to Sunday (ISO 8601, keyed by its ISO week-numbering year), a month a
calendar month. A day starts at the first instant from which the zone's clocks never again show
an earlier date:
- local midnight, on most days;
- when midnight is skipped (a gap, as in America/Santiago or Asia/Beirut on their spring-forward
  days), the instant the clocks jump past it: the first valid instant of the day;
- when midnight is read twice (the clocks go back across it), the first reading if the clocks go
  back only as far as midnight (America/Havana: 01:00 → 00:00), else the second one, so a day
  never reopens (America/St_Johns until 2010: 00:01 → 23:01 of the day before).
Periods are half-open, [starts_at, ends_at), and tile time with no gap and no overlap; a day the
zone skips entirely (Pacific/Apia, 2011-12-30) is empty: it starts where it ends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources
from zoneinfo import ZoneInfo


class Period(StrEnum):
    ALL = "all"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class PeriodState(StrEnum):
    PAST = "past"  # ended: its standings are frozen
    CURRENT = "current"  # contains the instant: actions count in it
    FUTURE = "future"  # not begun: nothing to show, and the API refuses it


class PeriodError(ValueError):
    """A period name, period key or timezone that a client or an admin got wrong."""


@dataclass(frozen=True, slots=True)
class Window:
    period: Period
    key: str
    starts_at: datetime | None  # None for `all`
    ends_at: datetime | None


ALL_KEY = "all"
EXAMPLES = {
    Period.ALL: ALL_KEY,
    Period.DAILY: "2026-12-02",
    Period.WEEKLY: "2026-W49",
    Period.MONTHLY: "2026-12",
}
# Years a client may name: the bounds of any of their periods stay inside datetime's range.
FIRST_YEAR, LAST_YEAR = 1000, 9998
_SHAPES = {
    Period.ALL: re.compile(ALL_KEY),
    Period.DAILY: re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})"),
    Period.WEEKLY: re.compile(r"([0-9]{4})-W([0-9]{2})"),
    Period.MONTHLY: re.compile(r"([0-9]{4})-([0-9]{2})"),
}
_TICK = timedelta(microseconds=1)


def parse_period(text: str) -> Period:
    """Return the period kind a client names.  :raise PeriodError: for any other word."""
    try:
        return Period(text)
    except ValueError:
        raise PeriodError(f"unknown period {_quote(text)}: one of {', '.join(Period)}") from None


def parse_key(period: Period, text: str) -> str:
    """Return `text` if it is a well-formed key of `period`.  :raise PeriodError: if not."""
    if period is not Period.ALL:
        _first_day(period, text)
    elif text != ALL_KEY:
        raise PeriodError(_shape_message(period, text))
    return text


def zone(name: str) -> ZoneInfo:
    """Return the IANA timezone of a board's settings.  :raise PeriodError: for an unknown name."""
    if name not in zone_names():
        raise PeriodError(f"unknown timezone {_quote(name)}: an IANA name such as Europe/Berlin or UTC")
    return ZoneInfo(name)


@cache
def zone_names() -> frozenset[str]:
    """Return the zone names of the pinned IANA release (the tzdata package), the same everywhere."""
    # Not available_timezones(): it also lists the system's `localtime`, which is no IANA zone.
    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


def key_at(period: Period, instant: datetime, tz: ZoneInfo) -> str:
    """Return the key of the period of `period` kind that contains `instant` in zone `tz`."""
    if period is Period.ALL:
        return ALL_KEY
    day = _day_at(instant, tz)
    if period is Period.DAILY:
        return day.isoformat()
    if period is Period.WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def bounds(period: Period, key: str, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """Return a key's UTC [starts_at, ends_at), (None, None) for `all`.  :raise PeriodError: if malformed."""
    if period is Period.ALL:
        parse_key(period, key)
        return None, None
    first = _first_day(period, key)
    return _day_start(first, tz), _day_start(_next_first_day(period, first), tz)


def window(period: Period, key: str, tz: ZoneInfo) -> Window:
    """Return a period's key with its bounds.  :raise PeriodError: if the key is malformed."""
    starts_at, ends_at = bounds(period, key, tz)
    return Window(period, key, starts_at, ends_at)


def state(period: Period, key: str, now: datetime, tz: ZoneInfo) -> PeriodState:
    """Say whether a key has ended, is current or is to come at `now`.  :raise PeriodError: if malformed."""
    key = parse_key(period, key)
    now_key = key_at(period, now, tz)
    if key == now_key:
        return PeriodState.CURRENT
    # Keys of one kind are fixed-width with the largest unit first: text order is time order.
    return PeriodState.PAST if key < now_key else PeriodState.FUTURE


def current(periods: Iterable[Period], now: datetime, tz: ZoneInfo) -> dict[Period, Window]:
    """Return the current window of each of `periods` at `now`, in their order."""
    return {period: window(period, key_at(period, now, tz), tz) for period in periods}


def next_boundary(periods: Iterable[Period], now: datetime, tz: ZoneInfo) -> datetime | None:
    """Return the first instant after `now` at which one of `periods` rolls over (None for `all`)."""
    ends = (w.ends_at for w in current(periods, now, tz).values() if w.ends_at is not None)
    return min(ends, default=None)


def weeks_in(year: int) -> int:
    """Return how many ISO weeks (52 or 53) the ISO week-numbering `year` has."""
    return date(year, 12, 28).isocalendar().week


def _first_day(period: Period, key: str) -> date:
    """Return the first local day of a dated period's key.  :raise PeriodError: if malformed."""
    match = _SHAPES[period].fullmatch(key)
    if match is None:
        raise PeriodError(_shape_message(period, key))
    year, number, *day = (int(part) for part in match.groups())
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(f"{key!r}: the year must be in {FIRST_YEAR}..{LAST_YEAR}")
    if period is Period.WEEKLY:
        if not 1 <= number <= weeks_in(year):
            raise PeriodError(f"{key!r}: ISO year {year} has weeks W01..W{weeks_in(year)}")
        return date.fromisocalendar(year, number, 1)
    if not 1 <= number <= 12:
        raise PeriodError(f"{key!r}: the month must be in 01..12")
    try:
        return date(year, number, day[0] if day else 1)
    except ValueError:
        raise PeriodError(f"{key!r} is not a day of the calendar") from None


def _next_first_day(period: Period, first: date) -> date:
    """Return the first local day of the period after the one that starts on `first`."""
    if period is Period.DAILY:
        return first + timedelta(days=1)
    if period is Period.WEEKLY:
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _day_at(instant: datetime, tz: ZoneInfo) -> date:
    """Return the local day that contains `instant` (the last day started by then)."""
    if instant.utcoffset() is None:
        raise ValueError("an instant must be an aware datetime")
    day = instant.astimezone(tz).date()
    # Only before the clocks go back across midnight can their date run ahead of the day.
    return day if _day_start(day, tz) <= instant else day - timedelta(days=1)


@lru_cache(maxsize=4096)  # every action of a day asks for the same few starts
def _day_start(day: date, tz: ZoneInfo) -> datetime:
    """Return the UTC instant `day` starts in `tz` (the rule in this module's docstring)."""
    midnight = datetime.combine(day, time())
    last = midnight.replace(tzinfo=tz, fold=1).astimezone(UTC)  # in a gap: before the jump
    if _wall(last, tz) != midnight:
        first_after = midnight.replace(tzinfo=tz, fold=0).astimezone(UTC)
        return _jump(midnight, last, first_after, tz)
    first = midnight.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first < last and _wall(last - _TICK, tz) >= midnight:
        return first  # read twice, with no earlier date between: the day began at the first
    return last


def _jump(wall: datetime, before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """Return the first instant in (before, after] at which the clocks read `wall` or later."""
    # Zone transitions fall on whole seconds; bisect the seconds between the two readings.
    low, high = math.floor(before.timestamp()), math.ceil(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), tz) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """Return what the clocks of `tz` read at `instant`, as a naive datetime."""
    return instant.astimezone(tz).replace(tzinfo=None)


def _shape_message(period: Period, key: str) -> str:
    """Explain that `key` is not shaped like a key of `period`, naming the kind it fits, if any."""
    message = f"{_quote(key)} is not a {period} key (expected the form {EXAMPLES[period]})"
    other = next((kind for kind, shape in _SHAPES.items() if shape.fullmatch(key)), None)
    if other is None:
        return message
    return f"{message}: it is {'the all-time key' if other is Period.ALL else f'a {other} key'}"


def _quote(text: str) -> str:
    """Return `text` quoted for an error message, cut short if a client sent a long one."""
    return repr(text if len(text) <= 40 else text[:40] + "…")
