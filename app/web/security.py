"""Security headers on every response (SPEC §11)."""

from __future__ import annotations

from collections.abc import Callable
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


def with_hsts(start_response: Callable[..., Any]) -> Callable[..., Any]:
    """A WSGI `start_response` that adds HSTS to a response that lacks it (production mode: every
    response, whichever layer answered it; browsers ignore the header over plain HTTP)."""

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if not any(name.lower() == "strict-transport-security" for name, _ in headers):
            headers.append(HSTS)
        return start_response(status, headers, exc_info)

    return start


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
