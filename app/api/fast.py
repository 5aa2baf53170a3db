"""The two hottest API calls answered before Flask, by the same functions as their views.

- `GET /api/v1/leaderboard` (no parameters): the board keeps the page's bytes in memory and they
  stay the same until its seq moves, so a read costs little more than the WSGI server's own work.
- `POST /api/v1/scores` with a Bearer token and a JSON body: the scoring pipeline does the work;
  Flask's request cycle (routing, context, session, hooks) cost about a fifth of a submit.

Both answer with the bodies and headers their Flask views give (tested side by side); what every
response gets besides (request id, security headers, metrics, the per-IP limit) the request layer
(app/edge.py) adds to both alike. Anything else (other parameters, methods or content types, a
browser session, a body over the limit, services not started yet) goes on to Flask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from werkzeug.http import parse_etags

from app.api.context import bearer_principal, parse_body
from app.api.errors import error_answer
from app.api.schemas import ScoreIn
from app.api.scores import accepted_json
from app.audit import Origin
from app.errors import ScoreboardError
from app.services import Services
from app.telemetry import record_submission

log = logging.getLogger(__name__)

BOARD, SUBMIT = "/api/v1/leaderboard", "/api/v1/scores"
_JSON = [("Content-Type", "application/json")]

Answer = tuple[int, bytes, list[tuple[str, str]]]  # status, body, headers (the layer adds its own)
Handler = Callable[[dict[str, Any]], Answer]


class FastPaths:
    """The board read and the Bearer submit, as (status, body, headers) without Flask."""

    def __init__(self, services: Services, max_body: int | None):
        self.services = services
        self.max_body = max_body

    def route(self, environ: dict[str, Any]) -> tuple[Handler, str] | None:
        """The handler for a request answered here and its endpoint name, or None for Flask."""
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == BOARD and method == "GET" and not environ.get("QUERY_STRING"):
            found: tuple[Handler, str] = (self._board, "api.leaderboard")
        elif path == SUBMIT and method == "POST" and self._plain_submit(environ):
            found = (self._submit, "api.submit_score")
        else:
            return None
        return found if self.services.started else None  # Flask starts them

    def _plain_submit(self, environ: dict[str, Any]) -> bool:
        """A Bearer token, a JSON content type and a length within the limit."""
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        length = environ.get("CONTENT_LENGTH") or ""
        return (
            scheme.lower() == "bearer"
            and bool(token.strip())
            and environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() == "application/json"
            and length.isdigit()
            and (self.max_body is None or int(length) <= self.max_body)
        )

    def _board(self, environ: dict[str, Any]) -> Answer:
        """The first page of the board from memory, or 304 when the caller's ETag is current."""
        page = self.services.board.page(10, 0)
        headers = [("Cache-Control", "no-cache")]
        if page.etag is not None:
            headers.append(("ETag", page.etag))
        wanted = environ.get("HTTP_IF_NONE_MATCH")
        if page.etag is not None and wanted and parse_etags(wanted).contains(page.etag.strip('"')):
            return 304, b"", headers
        return 200, page.body, headers + _JSON

    def _submit(self, environ: dict[str, Any]) -> Answer:
        """Submit the body's action token for the Bearer token's player."""
        token = environ["HTTP_AUTHORIZATION"].partition(" ")[2].strip()
        raw = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        code = None
        try:
            who = bearer_principal(self.services.access, token)
            data = parse_body(ScoreIn, raw)
            where = Origin.of(environ.get("REMOTE_ADDR"), environ.get("HTTP_USER_AGENT", ""))
            accepted = self.services.scorer.submit(who, data.action_token, where)
            result: Answer = (200, orjson.dumps(accepted_json(accepted)), list(_JSON))
        except ScoreboardError as err:
            code = err.code
            result = error_answer(err)
        except Exception:
            log.exception("unhandled error on POST %s", SUBMIT)
            code = "INTERNAL"
            result = error_answer(ScoreboardError("INTERNAL", "Something went wrong on our side."))
        record_submission(code, self.services.activity)
        return result
