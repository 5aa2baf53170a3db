"""The two hottest API calls answered before Flask, by the same functions as their views.

- `GET /api/v1/leaderboard` (no parameters): the board keeps the page's bytes in memory and they
  stay the same until its seq moves, so a read costs little more than the WSGI server's own work.
- `POST /api/v1/scores` with a Bearer token and a JSON body: the scoring pipeline does the work;
  Flask's request cycle (routing, context, session, hooks) cost about a fifth of a submit.

Both answer with the bodies and headers their Flask views give (tested side by side). Anything
else (other parameters, methods or content types, a browser session, a body over the limit,
services not started yet) goes on to Flask.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import orjson
from werkzeug.http import parse_etags

from app.api import address_refusal
from app.api.context import bearer_principal, parse_body
from app.api.schemas import ScoreIn
from app.api.scores import accepted_json
from app.audit import Origin
from app.errors import ScoreboardError
from app.observability import SERVED_BY, record, record_submission, request_id
from app.services import Services
from app.web.security import security_headers

log = logging.getLogger(__name__)

BOARD, SUBMIT = "/api/v1/leaderboard", "/api/v1/scores"
_SECURITY = {scheme: security_headers(None, scheme == "https") for scheme in ("http", "https")}
_JSON = [("Content-Type", "application/json")]


class FastPaths:
    """WSGI middleware in front of the Flask app."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], services: Services, max_body: int | None):
        self.wsgi_app = wsgi_app
        self.services = services
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == BOARD and method == "GET" and not environ.get("QUERY_STRING"):
            handler, endpoint = self._board, "api.leaderboard"
        elif path == SUBMIT and method == "POST" and self._plain_submit(environ):
            handler, endpoint = self._submit, "api.submit_score"
        else:
            return self.wsgi_app(environ, start_response)
        if not self.services.started:
            return self.wsgi_app(environ, start_response)  # Flask starts them
        started = time.perf_counter()
        limit = self.services.address_limit
        if limit is not None and (wait := limit.hit(environ.get("REMOTE_ADDR") or "")):
            status, body, headers = _refusal(address_refusal(wait))
        else:
            status, body, headers = handler(environ)
        if status != 304:
            headers.append(("Content-Length", str(len(body))))
        headers += [
            ("X-Request-ID", request_id(environ.get("HTTP_X_REQUEST_ID"))),
            ("X-Served-By", SERVED_BY),
            *_SECURITY.get(environ.get("wsgi.url_scheme"), _SECURITY["http"]),
        ]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        record(method, endpoint, status, started)
        return [body]

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

    def _board(self, environ: dict[str, Any]) -> tuple[int, bytes, list[tuple[str, str]]]:
        page = self.services.board.page(10, 0)
        headers = [("Cache-Control", "no-cache")]
        if page.etag is not None:
            headers.append(("ETag", page.etag))
        wanted = environ.get("HTTP_IF_NONE_MATCH")
        if page.etag is not None and wanted and parse_etags(wanted).contains(page.etag.strip('"')):
            return 304, b"", headers
        return 200, page.body, headers + _JSON

    def _submit(self, environ: dict[str, Any]) -> tuple[int, bytes, list[tuple[str, str]]]:
        token = environ["HTTP_AUTHORIZATION"].partition(" ")[2].strip()
        raw = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        code = None
        try:
            who = bearer_principal(self.services.access, token)
            data = parse_body(ScoreIn, raw)
            where = Origin.of(environ.get("REMOTE_ADDR"), environ.get("HTTP_USER_AGENT", ""))
            answer = (
                200,
                orjson.dumps(accepted_json(self.services.scorer.submit(who, data.action_token, where))),
            )
            result = (*answer, list(_JSON))
        except ScoreboardError as err:
            code = err.code
            result = _refusal(err)
        except Exception:
            log.exception("unhandled error on POST %s", SUBMIT)
            code = "INTERNAL"
            result = _refusal(ScoreboardError("INTERNAL", "Something went wrong on our side."))
        record_submission(code)
        return result


def _refusal(err: ScoreboardError) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = list(_JSON)
    if err.retry_after is not None:
        headers.append(("Retry-After", str(err.retry_after)))
    return err.status, orjson.dumps(err.to_dict()), headers
