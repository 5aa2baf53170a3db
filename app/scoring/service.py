"""Issue one-time action tokens and accept scores (SPEC §5), in the SPEC's check order."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from sqlalchemy.engine import Engine

from app.audit import Origin, audit_row, write_audit
from app.auth.principal import SCOPE_SCORE, Principal
from app.boards.periods import Period
from app.boards.stream import Stream
from app.errors import ScoreboardError
from app.fraud.limits import Check, Gated, Once, RateLimits, Step
from app.fraud.rules import FraudRules
from app.models.boards import MAIN
from app.scoring.catalog import Action, ActionCatalog
from app.scoring.ledger import ActionReplayed, Ledger, accepted_action
from app.scoring.store import Player, PlayerStore
from app.scoring.tokens import ActionClaims, ActionTokenSigner, TokenStore
from app.scoring.writer import BoardWriter

if TYPE_CHECKING:
    from app.boards.streams import Streams

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    """The rate-limit and penalty settings (SPEC §10)."""

    score_per_user: str
    token_per_user: str
    score_per_session: str
    score_global: str
    flagged_score: str
    penalty_violations: int
    penalty_window: int
    penalty_steps: tuple[int, ...]
    enabled: bool = True

    @classmethod
    def from_config(cls, c: Any) -> Limits:
        return cls(
            c.RATELIMIT_SCORE_PER_USER,
            c.RATELIMIT_TOKEN_PER_USER,
            c.RATELIMIT_SCORE_PER_SESSION,
            c.RATELIMIT_SCORE_GLOBAL,
            c.RATELIMIT_FLAGGED_SCORE,
            c.PENALTY_VIOLATIONS,
            c.PENALTY_WINDOW_SECONDS,
            tuple(c.PENALTY_STEPS),
            c.RATELIMIT_ENABLED,
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    action_token: str
    action_type: str
    expires_at: datetime
    expires_in: int


@dataclass(frozen=True, slots=True)
class Accepted:
    user_id: int
    username: str
    action_id: str
    action_type: str
    points: int
    new_score: int
    rank: int | None
    previous_rank: int | None
    next_token: IssuedToken | None


class Scorer:
    """The scoring pipeline; every caller (API, pages, CLI, tests) goes through it."""

    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        catalog: ActionCatalog,
        signer: ActionTokenSigner,
        tokens: TokenStore,
        limits: RateLimits,
        policy: Limits,
        writer: BoardWriter,
        streams: Streams,
        rules: FraudRules,
        unban: Callable[[int], None],
        clock: Callable[[], float] = time.time,
    ):
        self.engine = engine
        self.ledger = ledger
        self.players = PlayerStore(engine, ledger.batched)
        self.catalog = catalog
        self.signer = signer
        self.tokens = tokens
        self.limits = limits
        self.policy = policy
        self.writer = writer
        self.streams = streams
        self.rules = rules
        self.unban = unban
        self.clock = clock

    # -- issue ---------------------------------------------------------------------------

    def issue_token(self, who: Principal, action_type: str, origin: Origin, board: str = MAIN) -> IssuedToken:
        """Issue a one-time token for an action on a board the player is about to perform.

        :raise ScoreboardError: FORBIDDEN, ACCOUNT_BANNED, ACCOUNT_SUSPENDED, NOT_FOUND (no such
            board), INVALID_ACTION, RATE_LIMITED.
        """
        self._require_scope(who)
        player = self._player(who.user_id)
        self._check_standing(player)
        self.catalog_of(board).get(action_type)
        wait = self._waits([self._token_check(who.user_id)])[0]
        if wait:
            raise ScoreboardError("RATE_LIMITED", "Too many requests; slow down.", retry_after=wait)
        return self._mint(who.user_id, action_type, board)

    def catalog_of(self, board: str) -> ActionCatalog:
        """:raise ScoreboardError NOT_FOUND: no such board."""
        if board == MAIN:
            return self.catalog
        return self.streams.registry.catalog(self.streams.info(board))

    def _token_check(self, user_id: int) -> Check:
        return Check(self.policy.token_per_user, ("token", user_id))

    def _mint(self, user_id: int, action_type: str, board: str) -> IssuedToken:
        token, claims = self.signer.issue(user_id, action_type, self.clock(), board)
        expires = datetime.fromtimestamp(claims.issued_at + self.signer.ttl, UTC)
        return IssuedToken(token, action_type, expires, self.signer.ttl)

    # -- submit --------------------------------------------------------------------------

    def submit(self, who: Principal, action_token: str, origin: Origin) -> Accepted:
        """Check, apply and announce one completed action; audit the outcome either way.

        :raise ScoreboardError: any SPEC §5 refusal, with its code.
        """
        try:
            return self._submit(who, action_token, origin)
        except ScoreboardError as refusal:
            self._audit_refusal(who, refusal, origin)
            raise

    def _submit(self, who: Principal, action_token: str, origin: Origin) -> Accepted:
        self._require_scope(who)
        player = self._player(who.user_id)
        self._check_standing(player)
        claims, action, refusal = self._read_token(action_token, player)
        rate = self._applying(self._rate_checks(player, who))
        if claims is None or action is None:  # a bad token: the rate limits still count it
            self._refuse_over_limit(player, self.limits.gate(rate))
            assert refusal is not None
            if refusal.code == "TOKEN_INVALID" and self.signer.looks_signed(action_token):
                self.rules.tampered_token(player.id, player.penalty_level, origin)
            raise refusal
        # rate limits, cooldown and hourly cap, single use, and the counters an accepted action
        # adds to (fraud rules, the next token's limit): one atomic step
        nonce, ttl = claims.nonce, self.signer.ttl + 60  # kept past expiry
        once = Once(self.tokens.key(nonce), ttl, lambda: self._consume(nonce, ttl))
        fraud = self.rules.accept_checks(player.id, action.points)
        then = [*fraud, *self._applying([self._token_check(player.id)])]
        pace = self._applying(self._pace_checks(player, action, claims.board))
        gated = self.limits.gate(rate, pace, once, then)
        self._refuse_over_limit(player, gated)
        if gated.stopped is Step.PACE:
            raise ScoreboardError(
                "COOLDOWN", f"Action {action.type!r} is cooling down.", retry_after=max(gated.waits)
            )
        if gated.stopped is Step.USED:
            raise ScoreboardError("TOKEN_ALREADY_USED", "This action token has already been used.")
        counted = gated.counted
        return self._apply(
            player, claims.board, action, nonce, origin, counted[: len(fraud)], counted[len(fraud) :]
        )

    def _refuse_over_limit(self, player: Player, gated: Gated) -> None:
        """:raise ScoreboardError RATE_LIMITED: the gate stopped at a rate limit (a penalty step)."""
        if gated.stopped is Step.RATE:
            self._penalise(player)
            raise ScoreboardError(
                "RATE_LIMITED", "Too many score submissions; slow down.", retry_after=max(gated.waits)
            )

    def _read_token(
        self, token: str, player: Player
    ) -> tuple[ActionClaims | None, Action | None, ScoreboardError | None]:
        """The token's claims and action, or why it is refused (reported after the rate limits)."""
        try:
            claims = self.signer.verify(token)
            if claims.user_id != player.id:
                raise ScoreboardError("TOKEN_USER_MISMATCH", "This action token belongs to another player.")
            if claims.issued_at + self.signer.ttl < self.clock():
                raise ScoreboardError("TOKEN_EXPIRED", "The action token has expired; ask for a new one.")
            return claims, self.catalog_of(claims.board).get(claims.action_type), None
        except ScoreboardError as refusal:
            return None, None, refusal

    def _apply(
        self,
        player: Player,
        board: str,
        action: Action,
        action_id: str,
        origin: Origin,
        fraud_waits: list[int],
        token_waits: list[int],
    ) -> Accepted:
        """Write the accepted action and announce it; the waits of the fraud counters and of the
        next token's limit were counted with the gate."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        keys = self.streams.keys(self.streams.info(board), now)
        previous_rank = self._previous_rank(player, board)
        change = accepted_action(player.id, action_id, action.type, action.points, now, origin, board, keys)
        try:
            done = self.ledger.accept(change, previous_rank)
        except ActionReplayed as exc:
            raise ScoreboardError("TOKEN_ALREADY_USED", "This action token has already been used.") from exc
        before = player.score if board == MAIN else done.score - action.points
        self.rules.after_accept(player.id, action.points, before, done.score, fraud_waits)
        next_token = None if any(token_waits) else self._mint(player.id, action.type, board)
        return Accepted(
            player.id,
            done.username,
            action_id,
            action.type,
            action.points,
            done.score,
            done.placement.rank,
            done.placement.previous_rank,
            next_token,
        )

    def _previous_rank(self, player: Player, board: str) -> int | None:
        """The player's rank on the board's all-time stream before the action, when ranks come
        from the database (else the rank index tells, in the same step as the change)."""
        if self.writer.standings.uses_index:
            return None
        if board != MAIN:
            standing, _ = self.streams.standings(Stream(board, Period.ALL, "all")).rank(player.id)
            return standing.rank if standing else None
        reached = player.score_updated_at
        if not player.ranked or reached is None:
            return None
        return self.writer.standings.rank_of(player.id, player.score, reached)

    # -- checks --------------------------------------------------------------------------

    @staticmethod
    def _require_scope(who: Principal) -> None:
        if not who.can(SCOPE_SCORE):
            raise ScoreboardError("FORBIDDEN", "This token may not submit scores (needs update:score).")

    def _player(self, user_id: int) -> Player:
        player = self.players.player(user_id)
        if player is None or player.is_deleted:
            raise ScoreboardError("UNAUTHORIZED", "The account no longer exists.")
        return player

    def _check_standing(self, player: Player) -> None:
        now = datetime.fromtimestamp(self.clock(), UTC)
        if player.is_banned:
            if player.banned_until is not None and player.banned_until <= now:
                self.unban(player.id)
            else:
                wait = _seconds_until(player.banned_until, now)
                raise ScoreboardError("ACCOUNT_BANNED", "This account is banned.", retry_after=wait)
        if player.suspended_until is not None and player.suspended_until > now:
            raise ScoreboardError(
                "ACCOUNT_SUSPENDED",
                "This account is suspended for a while after repeated limit violations.",
                retry_after=_seconds_until(player.suspended_until, now),
            )

    def _rate_checks(self, player: Player, who: Principal) -> list[Check]:
        p = self.policy
        checks = [
            Check(p.score_per_user, ("score", player.id)),
            Check(p.score_per_session, ("session", who.session_id)),
        ]
        if p.score_global:
            checks.append(Check(p.score_global, ("global", "all")))
        if player.is_flagged:
            checks.append(Check(p.flagged_score, ("flagged", player.id)))
        return checks

    @staticmethod
    def _pace_checks(player: Player, action: Action, board: str) -> list[Check]:
        """Cooldown and hourly cap, per board (main's keys are those from before boards)."""
        scope = (action.type,) if board == MAIN else (board, action.type)
        checks = []
        if action.cooldown_seconds:
            checks.append(Check(f"1/{action.cooldown_seconds} second", ("cooldown", player.id, *scope)))
        if action.max_per_hour:
            checks.append(Check(f"{action.max_per_hour}/hour", ("hourly", player.id, *scope)))
        return checks

    def _consume(self, nonce: str, ttl: int) -> bool:
        try:
            return self.tokens.consume(nonce, ttl)
        except RedisError as exc:
            log.warning("token store unavailable (%s); the database guards single use", exc)
            return True

    def _applies(self, limit: str) -> bool:
        return self.policy.enabled and bool(limit)

    def _applying(self, checks: list[Check]) -> list[Check]:
        """The checks whose limits are set (and limits are on)."""
        return [c for c in checks if self._applies(c.limit)]

    def _waits(self, checks: list[Check]) -> list[int]:
        """Hit the limits that apply, in one round trip; a wait (0: allowed) for each check."""
        hits = iter(self.limits.hit_many([c for c in checks if self._applies(c.limit)]))
        return [next(hits) if self._applies(c.limit) else 0 for c in checks]

    def _penalise(self, player: Player) -> None:
        p = self.policy
        window = f"{max(p.penalty_violations - 1, 1)}/{p.penalty_window} seconds"
        if not self.limits.hit(window, "penalty", player.id):
            return
        self.limits.clear(window, "penalty", player.id)
        self.rules.suspend(player.id, player.penalty_level, "RATE_LIMITED", Origin())

    def _audit_refusal(self, who: Principal, refusal: ScoreboardError, origin: Origin) -> None:
        with self.engine.begin() as conn:
            write_audit(
                conn,
                audit_row(
                    "score.rejected",
                    "failure",
                    origin,
                    subject=who.user_id,
                    actor=who.user_id,
                    reason=refusal.code,
                    details={"message": refusal.message},
                ),
            )


def _seconds_until(moment: datetime | None, now: datetime) -> int | None:
    if moment is None:
        return None
    return max(1, int((moment - now).total_seconds() + 0.999))
