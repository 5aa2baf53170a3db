"""Database models, one module per domain."""

from app.models.audit import AuditLog
from app.models.boards import Board, BoardScore, StreamState
from app.models.fraud import FraudFlag
from app.models.oauth import OAuthAccount, OAuthAuthorizationCode, OAuthClient, OAuthToken, SigningKey
from app.models.scores import BoardState, ScoreEvent
from app.models.users import User

__all__ = [
    "AuditLog",
    "Board",
    "BoardScore",
    "BoardState",
    "FraudFlag",
    "OAuthAccount",
    "OAuthAuthorizationCode",
    "OAuthClient",
    "OAuthToken",
    "ScoreEvent",
    "SigningKey",
    "StreamState",
    "User",
]
