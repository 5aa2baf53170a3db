"""The JSON API (/api/v1): parse → call a service → serialise.

The per-IP limit on every /api/v1 request is applied by the request layer (app/edge.py).
"""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")


from app.api import accounts, admin, boards, leaderboard, openapi, scores  # noqa: E402, F401
