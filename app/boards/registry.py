"""The board registry (SPEC §14): list, read, create and edit boards, each change audited.

Plain functions over the engine; the admin API, the admin page, the CLI and tests call the same
ones. Nothing is cached: every call reads the database, so every worker sees every change at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from app import text
from app.audit import Origin, audit_row, write_audit
from app.boards import periods as p
from app.errors import ScoreboardError
from app.models.boards import MAIN, Board
from app.models.types import utcnow
from app.scoring.catalog import ActionCatalog

SLUG = r"^[a-z0-9-]{1,32}$"
SLUG_RE = re.compile(SLUG)
TITLE_MAX = 100
DATED = (p.Period.DAILY, p.Period.WEEKLY, p.Period.MONTHLY)  # the periods a board may keep
_COLUMNS = (Board.slug, Board.title, Board.catalog, Board.periods, Board.timezone)


@dataclass(frozen=True, slots=True)
class BoardInfo:
    """A board's settings; `catalog` None means the deployment's ACTION_CATALOG (only `main`)."""

    slug: str
    title: str
    catalog: dict[str, dict[str, int]] | None
    periods: tuple[p.Period, ...]
    timezone: str

    @property
    def kept(self) -> tuple[p.Period, ...]:
        """Every period the board ranks over: `all`, then the ones it keeps."""
        return (p.Period.ALL, *self.periods)

    def current(self, now: datetime) -> dict[p.Period, p.Window]:
        """The current window of every period the board ranks over at `now`."""
        return p.current(self.kept, now, p.zone(self.timezone))


def _refuse(message: str) -> ScoreboardError:
    return ScoreboardError("INVALID_REQUEST", message)


def is_slug(slug: str) -> bool:
    """Whether `slug` follows the slug rule ([a-z0-9-]{1,32})."""
    return SLUG_RE.fullmatch(slug) is not None


def check_slug(slug: str) -> str:
    """Return a new board's slug.  :raise ScoreboardError INVALID_REQUEST: if it breaks the rule."""
    if not is_slug(slug):
        raise _refuse(f"slug {slug[:40]!r}: 1 to 32 of a-z, 0-9 and -")
    return slug


def check_title(title: str) -> str:
    """Return a title tidied (spaces collapsed).  :raise ScoreboardError INVALID_REQUEST: if bad."""
    if not text.is_visible(title) or not title.strip():
        raise _refuse("title: visible text, not empty")
    tidied = text.tidy(title)
    if len(tidied) > TITLE_MAX:
        raise _refuse(f"title: at most {TITLE_MAX} characters")
    return tidied


def check_periods(names: Iterable[str]) -> tuple[p.Period, ...]:
    """Return the kept periods in the order daily, weekly, monthly.

    :raise ScoreboardError INVALID_REQUEST: an unknown or repeated period, or `all`.
    """
    names = list(names)
    if len(set(names)) != len(names):
        raise _refuse("periods: each period at most once")
    allowed = ", ".join(DATED)
    kept = set()
    for name in names:
        try:
            period = p.parse_period(name)
        except p.PeriodError:
            raise _refuse(f"periods: unknown period {name[:40]!r} (any of {allowed})") from None
        if period is p.Period.ALL:
            raise _refuse(f"periods: `all` always exists; list only any of {allowed}")
        kept.add(period)
    return tuple(period for period in DATED if period in kept)


def check_timezone(name: str) -> str:
    """Return an IANA zone name.  :raise ScoreboardError INVALID_REQUEST: for an unknown one."""
    try:
        p.zone(name)
    except p.PeriodError as err:
        raise _refuse(f"timezone: {err}") from None
    return name


def check_catalog(raw: object) -> dict[str, dict[str, int]]:
    """Return a catalog with the ACTION_CATALOG rules, written out in full.

    :raise ScoreboardError INVALID_REQUEST: naming the first problem.
    """
    if not isinstance(raw, Mapping) or not raw:
        raise _refuse("catalog: an object of at least one action type → {points, cooldown_seconds?, "
                      "max_per_hour?}")  # fmt: skip
    if not all(isinstance(rule, Mapping) for rule in raw.values()):
        raise _refuse(
            "catalog: each action type maps to an object {points, cooldown_seconds?, max_per_hour?}"
        )
    try:
        catalog = ActionCatalog(raw)
    except KeyError as err:
        raise _refuse(f"catalog: every action type needs {err}") from None
    except (TypeError, ValueError) as err:
        raise _refuse(f"catalog: {err}") from None
    out = rules(catalog)
    for name, rule in out.items():
        if rule["cooldown_seconds"] < 0 or rule["max_per_hour"] < 0:
            raise _refuse(f"catalog: {name}: cooldown_seconds and max_per_hour must not be negative")
    return out


def rules(catalog: ActionCatalog) -> dict[str, dict[str, int]]:
    """A catalog written out in full: action type → {points, cooldown_seconds, max_per_hour}."""
    return {
        a.type: {"points": a.points, "cooldown_seconds": a.cooldown_seconds, "max_per_hour": a.max_per_hour}
        for a in catalog
    }


def _info(row: RowMapping) -> BoardInfo:
    return BoardInfo(
        row["slug"], row["title"], row["catalog"], tuple(p.Period(x) for x in row["periods"]), row["timezone"]
    )


class BoardRegistry:
    """The boards of one deployment; `default` is its ACTION_CATALOG (what `main` uses)."""

    def __init__(self, engine: Engine, default: ActionCatalog):
        self.engine = engine
        self.default = default
        self.on_change: list[Callable[[str], None]] = []  # called with a board's slug after an edit

    def list(self) -> list[BoardInfo]:
        """Every board, `main` first, then by slug."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(*_COLUMNS).order_by(Board.slug != MAIN, Board.slug)).mappings()
            return [_info(row) for row in rows]

    def get(self, slug: str) -> BoardInfo:
        """Return one board.  :raise ScoreboardError NOT_FOUND: no board has this slug."""
        with self.engine.connect() as conn:
            return self._get(conn, slug)

    def _get(self, conn: Connection, slug: str) -> BoardInfo:
        row = conn.execute(select(*_COLUMNS).where(Board.slug == slug)).mappings().first()
        if row is None:
            raise ScoreboardError("NOT_FOUND", f"No board {slug[:40]!r}.")
        return _info(row)

    def catalog(self, board: BoardInfo) -> ActionCatalog:
        """The action catalog a board scores with."""
        return self.default if board.catalog is None else ActionCatalog(board.catalog)

    def create(
        self,
        actor: int | None,
        origin: Origin,
        slug: str,
        title: str,
        catalog: object,
        periods: Iterable[str] = (),
        timezone: str = "UTC",
    ) -> BoardInfo:
        """Create a board.  :raise ScoreboardError: INVALID_REQUEST, ALREADY_EXISTS (the slug is taken)."""
        values = {
            "slug": check_slug(slug),
            "title": check_title(title),
            "catalog": check_catalog(catalog),
            "periods": list(check_periods(periods)),
            "timezone": check_timezone(timezone),
        }
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(Board).values(**values, created_at=now, updated_at=now))
                write_audit(
                    conn, audit_row("admin.board_create", "success", origin, actor=actor, details=values)
                )
        except IntegrityError:
            raise ScoreboardError("ALREADY_EXISTS", f"A board {slug!r} exists already.") from None
        return self.get(slug)

    def update(self, actor: int | None, origin: Origin, slug: str, changes: Mapping[str, Any]) -> BoardInfo:
        """Change a board's title, catalog, periods or timezone (the slug stays).

        :raise ScoreboardError: NOT_FOUND, INVALID_REQUEST (a bad value, or a catalog for `main`).
        """
        with self.engine.begin() as conn:
            before = self._get(conn, slug)
            values = self._checked(slug, changes)
            changed = {k: v for k, v in values.items() if v != _field(before, k)}
            if changed:
                conn.execute(update(Board).where(Board.slug == slug).values(**changed, updated_at=utcnow()))
            details = {
                "slug": slug,
                "changed": {k: {"from": _field(before, k), "to": v} for k, v in changed.items()},
            }
            write_audit(
                conn, audit_row("admin.board_update", "success", origin, actor=actor, details=details)
            )
            board = self._get(conn, slug)
        for listener in self.on_change:
            listener(slug)
        return board

    def _checked(self, slug: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The validated new values of the fields in `changes` (None values: left as they are)."""
        checks = {"title": check_title, "catalog": check_catalog, "timezone": check_timezone,
                  "periods": lambda v: list(check_periods(v))}  # fmt: skip
        unknown = set(changes) - set(checks)
        if unknown:
            raise _refuse(f"cannot change {', '.join(sorted(unknown))} (the slug never changes)")
        if slug == MAIN and changes.get("catalog") is not None:
            raise _refuse("catalog: the main board uses the deployment's ACTION_CATALOG; change that instead")
        return {name: checks[name](value) for name, value in changes.items() if value is not None}


def _field(board: BoardInfo, name: str) -> Any:
    """A board's stored value of one field, in the shape the database holds it."""
    value = getattr(board, name)
    return list(value) if name == "periods" else value
