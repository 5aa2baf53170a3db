"""What every request gets, applied once in the WSGI layer around Flask and the fast handlers.

Every response, whoever answered it (a Flask view, a Flask error handler, app/api/fast.py, or
this layer's own per-IP refusal), carries `X-Request-ID` (the caller's when sane, else a new one,
also in `environ[REQUEST_ID]` for the logs), `X-Served-By` and the security headers (SPEC §11;
only the widget page may be framed), and is counted in the request metrics, labelled by the Flask
endpoint or the fast handler's name. Every `/api/v1` request counts toward the per-IP limit
(SPEC §10). A response that writes its own head on the socket (SSE under gunicorn) gets the same
through `environ[OWN_HEAD]`. With tracing on, each request is one server span named after its
method and route (app/tracing). A rule added here reaches every endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from app import tracing
from app.api.errors import error_answer
from app.api.fast import FastPaths
from app.errors import ScoreboardError
from app.services import Services
from app.telemetry import OWN_HEAD, REQUEST_ID, SERVED_BY, record, request_id
from app.web.security import security_headers

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Headers = list[tuple[str, str]]

API = "/api/v1"
WIDGET = "web.widget"
_STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
_OURS = frozenset({"x-request-id", "x-served-by"})  # replaced if a view set them


class Edge:
    """The WSGI layer in front of the fast handlers and the Flask app (behind ProxyFix only)."""

    def __init__(self, app: Flask, services: Services, fast: FastPaths, hsts_always: bool = False):
        self.flask: WSGIApp = app.wsgi_app
        self.hsts_always = hsts_always  # production mode: HSTS on every response (SPEC §11)
        self.url_map = app.url_map
        self.services = services
        self.fast = fast
        ancestors = app.config.get("WIDGET_FRAME_ANCESTORS") or None
        self._security = {
            (widget, secure): security_headers(ancestors if widget else None, secure)
            for widget in (False, True)
            for secure in (False, True)
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        rid = environ[REQUEST_ID] = request_id(environ.get("HTTP_X_REQUEST_ID"))
        with tracing.serving(environ, rid):
            return self._serve(environ, start_response, started, rid)

    def _serve(
        self, environ: dict[str, Any], start_response: Callable[..., Any], started: float, rid: str
    ) -> Iterable[bytes]:
        """Answer by a fast handler, by this layer's per-IP refusal, or through Flask."""
        fast = self.fast.route(environ)
        wait = self._address_wait(environ)
        if wait:
            endpoint, route = (fast[1], environ["PATH_INFO"]) if fast else _named(self._rule_of(environ))
            return self._answer(environ, start_response, started, endpoint, route, _address_refusal(wait))
        if fast is None:
            return self._through_flask(environ, start_response, started, rid)
        handler, endpoint = fast
        return self._answer(
            environ, start_response, started, endpoint, environ["PATH_INFO"], handler(environ)
        )

    def _address_wait(self, environ: dict[str, Any]) -> int:
        """Count an /api/v1 request toward its address's limit: 0, or the seconds to wait."""
        limit = self.services.address_limit
        path = environ.get("PATH_INFO") or ""
        if limit is None or not (path == API or path.startswith(API + "/")):
            return 0
        return limit.hit(environ.get("REMOTE_ADDR") or "")

    def _answer(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        started: float,
        endpoint: str,
        route: str | None,
        answer: tuple[int, bytes, Headers],
    ) -> Iterable[bytes]:
        """Send an answer made here or by a fast handler, with every response's headers."""
        status, body, headers = answer
        if status != 304:
            headers.append(("Content-Length", str(len(body))))
        headers += self._ours(environ, environ[REQUEST_ID])
        start_response(_STATUS_LINES[status], headers)
        _count(environ, endpoint, route, status, started)
        return [body]

    def _through_flask(
        self, environ: dict[str, Any], start_response: Callable[..., Any], started: float, rid: str
    ) -> Iterable[bytes]:
        """Let Flask answer; stamp and count its response as it starts."""
        answered = False

        def head(status: str, headers: Headers) -> Headers:
            nonlocal answered
            answered = True
            endpoint, route = _named(_flask_rule(environ))
            _count(environ, endpoint, route, int(status[:3]), started)
            return self._stamp(environ, rid, headers, endpoint == WIDGET)

        def respond(status: str, headers: Headers, exc_info: Any = None) -> Any:
            return start_response(status, head(status, headers), exc_info)

        environ[OWN_HEAD] = head
        try:
            return self.flask(environ, respond)
        except BaseException as exc:  # counted, then passed on as it came
            if not answered:  # gunicorn's StopIteration: a WebSocket took the connection over
                status = 101 if isinstance(exc, StopIteration) else 500
                rule = _flask_rule(environ) or self._rule_of(environ)  # Flask let go of its request
                _count(environ, *_named(rule), status, started)
            raise

    def _stamp(self, environ: dict[str, Any], rid: str, headers: Headers, widget: bool) -> Headers:
        """A Flask response's headers plus ours (security headers only where it set none)."""
        names = {name.lower() for name, _ in headers}
        if names & _OURS:
            headers = [(k, v) for k, v in headers if k.lower() not in _OURS]
        security = self._security[widget, self._secure(environ)]
        return [*headers, ("X-Request-ID", rid), ("X-Served-By", SERVED_BY)] + [
            (k, v) for k, v in security if k.lower() not in names
        ]

    def _ours(self, environ: dict[str, Any], rid: str) -> Headers:
        """The headers every response gets."""
        return [
            ("X-Request-ID", rid),
            ("X-Served-By", SERVED_BY),
            *self._security[False, self._secure(environ)],
        ]

    def _secure(self, environ: dict[str, Any]) -> bool:
        """Whether the response gets HSTS: always in production mode, else over TLS (as Flask's
        request.is_secure; browsers ignore the header over plain HTTP)."""
        return self.hsts_always or environ.get("wsgi.url_scheme") in ("https", "wss")

    def _rule_of(self, environ: dict[str, Any]) -> Rule | None:
        """The Flask rule a request would reach (for the label of a refusal made here, or of a
        WebSocket that took its connection over)."""
        try:
            rule, _ = self.url_map.bind_to_environ(environ).match(return_rule=True)
        except HTTPException:
            return None
        return rule


def _address_refusal(wait: int) -> tuple[int, bytes, Headers]:
    """The answer to an address over its limit (as the API's error handler would give it)."""
    return error_answer(
        ScoreboardError("RATE_LIMITED", "Too many requests from this address.", retry_after=wait)
    )


def _flask_rule(environ: dict[str, Any]) -> Rule | None:
    """The rule Flask matched, if any."""
    return getattr(environ.get("werkzeug.request"), "url_rule", None)


def _named(rule: Rule | None) -> tuple[str, str | None]:
    """A rule's endpoint (a bounded label; "none" when no rule matched) and route."""
    return (rule.endpoint, rule.rule) if rule is not None else ("none", None)


def _count(environ: dict[str, Any], endpoint: str, route: str | None, status: int, started: float) -> None:
    """Count an answered request in the metrics, and give its span the route and status."""
    record(environ["REQUEST_METHOD"], endpoint, status, started)
    tracing.answered(environ, route, status)
