"""The server's action catalog: how many points an action is worth and how often."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import ScoreboardError

ACTION_TYPE_RE = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True, slots=True)
class Action:
    type: str
    points: int
    cooldown_seconds: int
    max_per_hour: int


class ActionCatalog:
    """Maps action types to their rules; built once from configuration."""

    def __init__(self, raw: Mapping[str, Mapping[str, Any]]):
        self._actions: dict[str, Action] = {}
        for name, rule in raw.items():
            if not ACTION_TYPE_RE.match(name):
                raise ValueError(f"action type {name!r} must match {ACTION_TYPE_RE.pattern}")
            self._actions[name] = Action(
                name,
                int(rule["points"]),
                int(rule.get("cooldown_seconds", 0)),
                int(rule.get("max_per_hour", 0)),
            )

    def get(self, action_type: str) -> Action:
        """Return the rule for an action type.

        :raise ScoreboardError INVALID_ACTION: the type is not in the catalog.
        """
        action = self._actions.get(action_type)
        if action is None:
            raise ScoreboardError("INVALID_ACTION", f"Unknown action type {action_type!r}.")
        return action

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._actions.values())
