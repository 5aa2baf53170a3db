"""Action tokens and score submission."""

from __future__ import annotations

from flask import Response, after_this_request, g

from app.api import bp
from app.api.context import body, json_response, origin, principal
from app.api.responses import AcceptedBody, ActionToken
from app.api.schemas import ActionTokenIn, ScoreIn
from app.scoring.board import iso
from app.scoring.service import Accepted
from app.services import services
from app.telemetry import record_submission


@bp.post("/actions/token")
def action_token() -> Response:
    who = principal()
    data = body(ActionTokenIn)
    issued = services().scorer.issue_token(who, data.action_type, origin(), data.board)
    token: ActionToken = {
        "action_token": issued.action_token,
        "action_type": issued.action_type,
        "expires_at": iso(issued.expires_at),
        "expires_in": issued.expires_in,
    }
    return json_response(token, 201)


@bp.post("/scores")
def submit_score() -> Response:
    after_this_request(_count_submission)
    who = principal()
    data = body(ScoreIn)
    return json_response(accepted_json(services().scorer.submit(who, data.action_token, origin())))


def _count_submission(response: Response) -> Response:
    """Count the submit as accepted or by its refusal code (error_response notes it)."""
    record_submission(g.get("error_code"), services().activity)
    return response


def accepted_json(a: Accepted) -> AcceptedBody:
    """The body of an accepted submit (SPEC §6)."""
    nxt = a.next_token
    return {
        "success": True,
        "data": {
            "user_id": a.user_id,
            "username": a.username,
            "action_id": a.action_id,
            "action_type": a.action_type,
            "points": a.points,
            "new_score": a.new_score,
            "rank": a.rank,
            "previous_rank": a.previous_rank,
            "next_action_token": nxt.action_token if nxt else None,
            "next_action_expires_in": nxt.expires_in if nxt else None,
        },
    }
