"""Every error, whatever raised it, answers in the SPEC §6 shape; never a bare 500 page."""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response, g, has_request_context, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.errors import OAUTH_CHALLENGE, ScoreboardError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "INVALID_REQUEST",
    409: "ALREADY_EXISTS",
    413: "INVALID_REQUEST",
    415: "INVALID_REQUEST",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


# The OAuth protocol endpoints answer every error in RFC 6749 §5.2 / RFC 7009 shape (SPEC §6).
PROTOCOL_PATHS = frozenset({"/oauth/token", "/oauth/revoke"})
PROTOCOL_ERRORS = {
    "UNAUTHORIZED": "invalid_client",
    "TOKEN_INVALID": "invalid_grant",
    "TOKEN_EXPIRED": "invalid_grant",
    "FORBIDDEN": "unauthorized_client",
    "INTERNAL": "server_error",
    "SERVICE_UNAVAILABLE": "temporarily_unavailable",
}


def protocol_error_response(err: ScoreboardError) -> Response:
    """The RFC 6749 §5.2 body for a refusal: `{"error", "error_description"}`, never cached."""
    if has_request_context():
        g.error_code = err.code
    error = PROTOCOL_ERRORS.get(err.code, "invalid_request")
    body = {"error": error, "error_description": err.message}
    response = Response(orjson.dumps(body), status=err.status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if error == "invalid_client":
        response.status_code = 401
        response.headers["WWW-Authenticate"] = OAUTH_CHALLENGE
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def error_answer(err: ScoreboardError) -> tuple[int, bytes, list[tuple[str, str]]]:
    """A refusal as WSGI parts (status, JSON body, headers), with Retry-After when there is a wait."""
    headers = [("Content-Type", "application/json")]
    if err.retry_after is not None:
        headers.append(("Retry-After", str(err.retry_after)))
    return err.status, orjson.dumps(err.to_dict()), headers


def error_response(err: ScoreboardError) -> Response:
    """The same refusal as a Flask response (remembering its code for the submission metric); on
    the OAuth protocol endpoints in their RFC shape."""
    if has_request_context() and request.path in PROTOCOL_PATHS:
        return protocol_error_response(err)
    if has_request_context():
        g.error_code = err.code
    status, body, headers = error_answer(err)
    return Response(body, status=status, headers=headers)


def _wants_page() -> bool:
    """A browser asking for a page (not the API, not a fetch) gets an HTML error page."""
    if request.path.startswith(("/api/", "/oauth/", "/.well-known/", "/events/", "/ws/", "/fragments/")):
        return False
    return request.accept_mimetypes.best == "text/html" and not request.headers.get("HX-Request")


def register_error_handlers(app: Flask) -> None:
    """Map domain errors, HTTP errors and crashes to the error shape."""

    @app.errorhandler(ScoreboardError)
    def _domain(err: ScoreboardError) -> Response | tuple[str, int]:
        if _wants_page():  # a board or period that does not exist, say
            titles = {404: "Not found", 400: "Not available"}
            return render_template(
                "error.html", title=titles.get(err.status, "Sorry"), message=err.message
            ), err.status
        return error_response(err)

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError) -> Response | tuple[str, int]:
        if _wants_page():
            message = "Your session expired or the form is stale. Go back, reload the page and try again."
            return render_template("error.html", title="Please try again", message=message), 400
        return error_response(ScoreboardError("FORBIDDEN", f"CSRF check failed: {err.description}"))

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response | tuple[str, int]:
        status = err.code or 500
        if _wants_page():
            return render_template("error.html", title=err.name, message=err.description), status
        code = HTTP_CODES.get(status, "INTERNAL" if status >= 500 else "INVALID_REQUEST")
        message = err.description or err.name
        if status == 413:
            message = f"The request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes."
        response = error_response(ScoreboardError(code, message, status=status))
        for name, value in err.get_headers():  # Allow on a 405, WWW-Authenticate on a 401
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _crash(err: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(ScoreboardError("INTERNAL", "Something went wrong on our side."))
