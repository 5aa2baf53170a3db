"""A stream: one (board, period) as viewers follow it, at one period key.

The `main` board's all-time stream is the board of SPEC §6–§8: its scores are `users.score`, its
rank index and seq keep their original names. Every other stream reads `board_scores`.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.boards.periods import Period
from app.models.boards import MAIN


@dataclass(frozen=True, slots=True)
class Stream:
    """A (board, period) at one period key (`all` for all-time)."""

    board: str
    period: Period
    key: str

    @property
    def is_main(self) -> bool:
        """The `main` board's all-time stream (scores in `users`)."""
        return self.board == MAIN and self.period is Period.ALL

    @property
    def name(self) -> str:
        """The live stream this key belongs to: one seq counter and one viewer group across keys."""
        return f"{self.board}/{self.period.value}"

    @property
    def tag(self) -> str:
        """How broker messages name it: board/period/key."""
        return f"{self.name}/{self.key}"

    @classmethod
    def from_tag(cls, tag: str) -> Stream:
        board, period, key = tag.split("/")
        return cls(board, Period(period), key)


MAIN_STREAM = Stream(MAIN, Period.ALL, "all")
