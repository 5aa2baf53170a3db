"""The JSON API (/api/v1): parse → call a service → serialise."""

from flask import Blueprint, request

from app.errors import ScoreboardError
from app.services import services

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def _per_address_limit() -> None:
    """RATELIMIT_API_PER_IP on every API request."""
    limit = services().address_limit
    if limit is not None and (wait := limit.hit(request.remote_addr or "")):
        raise address_refusal(wait)


def address_refusal(wait: int) -> ScoreboardError:
    return ScoreboardError("RATE_LIMITED", "Too many requests from this address.", retry_after=wait)


from app.api import accounts, admin, leaderboard, openapi, scores  # noqa: E402, F401
