"""The JSON API (/api/v1): parse → call a service → serialise."""

from flask import Blueprint, current_app

from app.extensions import limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
limiter.limit(lambda: current_app.config["RATELIMIT_API_PER_IP"])(bp)

from app.api import accounts, leaderboard, scores  # noqa: E402, F401
