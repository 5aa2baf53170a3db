"""The OpenAPI 3.1 document, generated from the route table (app/api/operations.py).

Every schema comes from pydantic: request bodies, forms and query parameters from the models the
views validate with, responses from the TypedDicts the views build their bodies as. Nothing here
names a field. The statuses every operation shares are derived from what the layers do: the
per-IP limit on /api/v1 (429), body parsing (400, 413), authentication (401, 403), path ids (404).
"""

from __future__ import annotations

from typing import Any, get_origin

import orjson
from flask import Flask, Response, current_app
from pydantic import BaseModel, TypeAdapter

from app.api import bp
from app.api.errors import PROTOCOL_PATHS
from app.api.operations import OPERATIONS, Op
from app.api.queries import BIGINT
from app.api.responses import Error, OAuthError
from app.auth.server import SCOPES
from app.boards.registry import SLUG
from app.scoring.catalog import ACTION_TYPE_RE

S = dict[str, Any]
REF = "#/components/schemas/{model}"
UNSAFE = ("post", "patch", "put", "delete")
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    302: "Found: a redirect (see the summary)",
    304: "Not modified: the board has not changed since the ETag sent in If-None-Match",
    400: "INVALID_REQUEST (malformed JSON, wrong types, unknown fields, a rule broken) or the "
    "operation's own refusal (INVALID_ACTION, TOKEN_INVALID, TOKEN_EXPIRED)",
    401: "UNAUTHORIZED: no valid Bearer token or session",
    403: "FORBIDDEN (scope, CSRF), ACCOUNT_BANNED, ACCOUNT_SUSPENDED or TOKEN_USER_MISMATCH",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS or TOKEN_ALREADY_USED",
    413: "INVALID_REQUEST: the body is larger than MAX_CONTENT_LENGTH",
    414: "URI too long: gunicorn refuses a request line over 4094 bytes (an HTML page)",
    429: "RATE_LIMITED or COOLDOWN (per-IP limit on every /api/v1 path; per-user limits); see Retry-After",
    500: "INTERNAL: a fault on our side",
    503: "Not ready",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


class Schemas:
    """components/schemas, filled with each type's pydantic schema the first time it is named."""

    def __init__(self) -> None:
        self.components: dict[str, S] = {}

    def ref(self, kind: Any, mode: str = "serialization") -> S:
        """A $ref to `kind`'s schema (its nested types become components too)."""
        if get_origin(kind) is not None:  # a plain container (dict[str, Any]): no name of its own
            return TypeAdapter(kind).json_schema(mode=mode)  # type: ignore[arg-type]
        name = kind.__name__
        if name not in self.components:
            schema = TypeAdapter(kind).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
            for nested, sub in schema.pop("$defs", {}).items():
                self.components.setdefault(nested, sub)
            self.components[name] = schema
        return {"$ref": REF.format(model=name)}

    def inline(self, model: type[BaseModel]) -> S:
        """A model's schema without null branches (a form or query string cannot carry null)."""
        schema = model.model_json_schema(ref_template=REF)
        schema["properties"] = {k: _no_null(v) for k, v in schema.get("properties", {}).items()}
        return schema


def _no_null(schema: S) -> S:
    """`X | None` as X; titles dropped."""
    out = dict(schema)
    branches = [b for b in out.pop("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        out |= branches[0]
    elif branches:
        out["anyOf"] = branches
    out.pop("title", None)
    if "default" in out and out["default"] is None:
        del out["default"]
    return out


def _parameters(op: Op, schemas: Schemas) -> list[S]:
    """Path ids, query parameters (from the op's query model) and conditional headers."""
    out: list[S] = [
        {
            "name": n,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": BIGINT},
        }
        for n in op.ids
    ]
    out += [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "pattern": SLUG}}
            for n in op.slugs]  # fmt: skip
    if op.query is not None:
        model = schemas.inline(op.query)
        for name, schema in model["properties"].items():
            about = schema.pop("description", None)
            param: S = {"name": name, "in": "query", "required": name in model.get("required", ())}
            out.append(param | {"schema": schema} | ({"description": about} if about else {}))
    if 304 in op.errors:
        out.append({"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}})
    return out


def _statuses(op: Op) -> set[int]:
    """Every status the operation can answer."""
    found = {op.ok, *op.errors}
    if op.path.startswith("/api/v1/"):
        found |= {429, 500}
    if op.body is not None or op.form is not None:
        found |= {400, 413}
    if op.query is not None:
        found |= {400, 414}
    if op.ids or op.slugs:
        found.add(404)
    if op.auth != "public":
        found.add(401)
    if op.auth == "admin" or (op.auth == "user" and op.method in UNSAFE):
        found.add(403)
    return found


def _response(op: Op, status: int, schemas: Schemas) -> S:
    """One status's answer: the op's body on success, else the error shape of its path."""
    answer: S = {"description": STATUS_TEXT.get(status, "")}
    if status in (204, 302, 304):
        if status == 302:
            answer["headers"] = {"Location": {"schema": {"type": "string"}}}
        return answer
    if status < 300 or status == 503:
        if op.response is str:
            answer["content"] = {op.media: {"schema": {"type": "string"}}}
        elif op.response is not None:
            answer["content"] = {op.media: {"schema": schemas.ref(op.response)}}
        return answer
    if op.media == "text/html" or status == 414:
        answer["content"] = {"text/html": {"schema": {"type": "string"}}}
    elif op.path in PROTOCOL_PATHS:
        answer["content"] = {"application/json": {"schema": schemas.ref(OAuthError)}}
        if status == 401:
            answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    else:
        answer["content"] = {"application/json": {"schema": schemas.ref(Error)}}
    if status == 429:
        answer["headers"] = RETRY_AFTER
    return answer


def _security(op: Op) -> list[S]:
    """Bearer, or the session cookie (with the X-CSRFToken header on writes)."""
    if op.auth == "public":
        return []
    session: S = {"session": [], "csrf": []} if op.method in UNSAFE else {"session": []}
    return [{"bearer": ["admin"] if op.auth == "admin" else []}, session]


def _operation(op: Op, schemas: Schemas) -> S:
    out: S = {"tags": [op.tag], "summary": op.summary, "operationId": _operation_id(op)}
    out["security"] = _security(op)
    if params := _parameters(op, schemas):
        out["parameters"] = params
    if op.body is not None:
        body = {"schema": schemas.ref(op.body, mode="validation")}
        out["requestBody"] = {"required": True, "content": {"application/json": body}}
    elif op.form is not None:
        form = {"schema": schemas.inline(op.form)}
        out["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": form}}
    out["responses"] = {str(s): _response(op, s, schemas) for s in sorted(_statuses(op))}
    return out


def _operation_id(op: Op) -> str:
    words = op.path.replace("{", "").replace("}", "").replace(".", "").strip("/").replace("-", "_")
    return f"{op.method}_{words.replace('/', '_')}"


def _components(schemas: Schemas, catalog: list[str]) -> S:
    """Schemas, with main's action types as examples (each board has its own catalog), and the
    security schemes."""
    action = schemas.components.get("ActionTokenIn")
    if action is not None:
        action["properties"]["action_type"] |= {"pattern": ACTION_TYPE_RE.pattern, "examples": catalog}
    return {
        "schemas": schemas.components,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "session": {
                "type": "apiKey",
                "in": "cookie",
                "name": "session",
                "description": "browser session",
            },
            "csrf": {
                "type": "apiKey",
                "in": "header",
                "name": "X-CSRFToken",
                "description": "with a session, on writes",
            },
            "oauth": {
                "type": "oauth2",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": "/oauth/authorize",
                        "tokenUrl": "/oauth/token",
                        "refreshUrl": "/oauth/token",
                        "scopes": {s: s for s in SCOPES},
                    }
                },
            },
        },
    }


def build(catalog: list[str]) -> S:
    """The whole document for a deployment whose action catalog has `catalog`."""
    schemas = Schemas()
    paths: dict[str, S] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Live Scoreboard API",
            "version": "1",
            "description": "Errors under /api/v1: {success: false, error: {code, message, retry_after?}}, "
            "with a Retry-After header where there is a wait. Every /api/v1 path counts toward the "
            "per-IP limit (429). Bodies over MAX_CONTENT_LENGTH get 413; malformed JSON, wrong types "
            "and unknown fields 400 INVALID_REQUEST. /oauth/token and /oauth/revoke answer errors as "
            "their RFCs say: {error, error_description}.",
        },
        "paths": paths,
        "components": _components(schemas, catalog),
    }


def document(app: Flask | None = None) -> S:
    """This app's document (built once per app: the action types come from its catalog)."""
    app = app or current_app
    if "openapi" not in app.extensions:
        app.extensions["openapi"] = build(sorted(app.config["ACTION_CATALOG"]))
    return app.extensions["openapi"]


@bp.get("/openapi.json")
def openapi() -> Response:
    """The document, serialised once per app."""
    if "openapi.json" not in current_app.extensions:
        current_app.extensions["openapi.json"] = orjson.dumps(document())
    body = current_app.extensions["openapi.json"]
    return Response(body, mimetype="application/json", headers={"Cache-Control": "public, max-age=300"})
