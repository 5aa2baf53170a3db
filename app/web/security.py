"""Security headers on every response (SPEC §11); the request layer (app/edge.py) adds them."""

from __future__ import annotations

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
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers
