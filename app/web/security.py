"""Security headers on every response (SPEC §11)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'self'; form-action 'self'; object-src 'none'"
)


def security_headers(frame_ancestors: str | None, secure: bool) -> list[tuple[str, str]]:
    """CSP (framing only where `frame_ancestors` allows; None: nowhere), nosniff, referrer policy
    and, over HTTPS, HSTS."""
    headers = [] if frame_ancestors else [("X-Frame-Options", "DENY")]
    ancestors = frame_ancestors or "'none'"
    headers += [
        ("Content-Security-Policy", f"{CSP}; frame-ancestors {ancestors}"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ]
    if secure:
        headers.append(HSTS)
    return headers


HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


class AlwaysHSTS:
    """WSGI middleware: HSTS on every response (production mode), whichever layer answered it.

    Browsers ignore the header over plain HTTP, so this costs nothing there; behind a TLS-ending
    router it holds even when the proxy hops are not trusted and the app cannot see the scheme.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not any(name.lower() == "strict-transport-security" for name, _ in headers):
                headers.append(HSTS)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def init_security(app: Flask) -> None:
    """Security headers on every response; only the widget may be framed."""

    @app.after_request
    def _headers(response: Response) -> Response:
        widget = request.endpoint == "web.widget"
        for name, value in security_headers(
            app.config["WIDGET_FRAME_ANCESTORS"] if widget else None, request.is_secure
        ):
            response.headers.setdefault(name, value)
        return response
