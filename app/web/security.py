"""Security headers on every response (SPEC §11)."""

from __future__ import annotations

from flask import Flask, Response, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'self'; form-action 'self'; object-src 'none'"
)


def init_security(app: Flask) -> None:
    """Add CSP (framing allowed only for the widget), nosniff, referrer policy and HSTS."""

    @app.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        if request.endpoint == "web.widget":
            ancestors = app.config["WIDGET_FRAME_ANCESTORS"]
        else:
            ancestors = "'none'"
            h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Content-Security-Policy", f"{CSP}; frame-ancestors {ancestors}")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.is_secure:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
