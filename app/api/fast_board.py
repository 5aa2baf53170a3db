"""`GET /api/v1/leaderboard` (no parameters) answered from the board's cached page, before Flask.

The most requested URL (widgets, pollers, API clients) returns the same bytes until the board's
seq moves, and the board keeps those bytes in memory. Answered here, a read costs little more
than the WSGI server's own work; through Flask's request cycle it cost twice that. Everything
else (other parameters or methods, an address over its limit, services not started yet) goes to
Flask, whose leaderboard view answers with the same body and headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import parse_etags

from app.observability import SERVED_BY, record, request_id
from app.services import Services
from app.web.security import security_headers

PATH = "/api/v1/leaderboard"
ENDPOINT = "api.leaderboard"
_SECURITY = {scheme: security_headers(None, scheme == "https") for scheme in ("http", "https")}


class FastBoard:
    """WSGI middleware in front of the Flask app."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], services: Services):
        self.wsgi_app = wsgi_app
        self.services = services

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (
            environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "GET"
            or environ.get("QUERY_STRING")
        ):
            return self.wsgi_app(environ, start_response)
        s = self.services
        limit = s.address_limit
        if not s.started or (limit is not None and limit.hit(environ.get("REMOTE_ADDR") or "")):
            return self.wsgi_app(environ, start_response)  # Flask starts them, or refuses
        started = time.perf_counter()
        page = s.board.page(10, 0)
        headers = [("Cache-Control", "no-cache")]
        if page.etag is not None:
            headers.append(("ETag", page.etag))
        wanted = environ.get("HTTP_IF_NONE_MATCH")
        if page.etag is not None and wanted and parse_etags(wanted).contains(page.etag.strip('"')):
            status, body = 304, b""
        else:
            status, body = 200, page.body
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        headers += [
            ("X-Request-ID", request_id(environ.get("HTTP_X_REQUEST_ID"))),
            ("X-Served-By", SERVED_BY),
        ]
        headers += _SECURITY.get(environ.get("wsgi.url_scheme"), _SECURITY["http"])
        start_response("200 OK" if status == 200 else "304 NOT MODIFIED", headers)
        record("GET", ENDPOINT, status, started)
        return [body]
