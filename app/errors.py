"""Domain errors carrying the SPEC §6 codes; the API turns them into JSON."""

from __future__ import annotations

# The challenge on a 401 from the OAuth token and revocation endpoints (RFC 6749 §5.2).
OAUTH_CHALLENGE = 'Basic realm="oauth", error="invalid_client"'

STATUS = {
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "ACCOUNT_BANNED": 403,
    "ACCOUNT_SUSPENDED": 403,
    "INVALID_REQUEST": 400,
    "ALREADY_EXISTS": 409,
    "INVALID_ACTION": 400,
    "TOKEN_INVALID": 400,
    "TOKEN_EXPIRED": 400,
    "TOKEN_USER_MISMATCH": 403,
    "TOKEN_ALREADY_USED": 409,
    "COOLDOWN": 429,
    "RATE_LIMITED": 429,
    "NOT_FOUND": 404,
    "SERVICE_UNAVAILABLE": 503,
    "INTERNAL": 500,
}


class ScoreboardError(Exception):
    """A refusal with a stable code, a human message and, for waits, seconds to retry after."""

    def __init__(self, code: str, message: str, retry_after: int | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.status = status or STATUS[code]

    def to_dict(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            error["retry_after"] = self.retry_after
        return {"success": False, "error": error}
