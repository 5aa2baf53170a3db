"""The OpenAPI document: valid 3.1, every route in it and nothing else, bodies as the API takes and
gives them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, ValidationError
from openapi_spec_validator import validate

from app.api.schemas import BanIn, ScoreIn
from tests.helpers import Player

pytestmark = pytest.mark.parametrize("mode", ["embedded"])  # the document does not depend on the mode
DOCUMENTED = ("/api/v1/", "/oauth/", "/.well-known/", "/api/docs", "/healthz", "/readyz", "/metrics")


def test_the_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    doc = r.get_json()
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_every_route_is_documented_and_nothing_else(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(DOCUMENTED):
            path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
                if "{act}" in path:  # one route serves the six moderation acts, documented one by one
                    acts = ("ban", "unban", "hide", "unhide", "adjust", "reset")
                    served |= {(method, path.replace("{act}", act)) for act in acts}
                else:
                    served.add((method, path))
    assert documented == served


def test_bodies_are_the_models_the_api_validates_with(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    assert schemas["ScoreIn"] == ScoreIn.model_json_schema()
    assert schemas["BanIn"] == BanIn.model_json_schema()
    submit = doc["paths"]["/api/v1/scores"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScoreIn"
    }
    assert submit["security"] == [{"bearer": []}, {"session": [], "csrf": []}]  # CSRF header on writes
    assert doc["paths"]["/api/v1/leaderboard"]["get"]["security"] == []


def test_the_docs_page_lists_every_operation(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for path, ops in doc["paths"].items():
        for method in ops:
            assert f'<span class="method {method}">{method.upper()}</span> <code>{path}</code>' in html
    assert 'id="schema-AcceptedBody"' in html


def _validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for one component schema of the document (its $refs resolve in the document)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_bodies_match_their_schemas_and_a_field_not_in_the_type_breaks_that(client: FlaskClient) -> None:
    """A field added to a body but not to its type fails the schema (as it fails mypy)."""
    doc = client.get("/api/v1/openapi.json").get_json()
    ann = Player(client, "ann")
    ann.score(1)
    bodies = {
        "Leaderboard": client.get("/api/v1/leaderboard?limit=5").get_json(),
        "Rank": client.get(f"/api/v1/users/{ann.id}/rank").get_json(),
        "Me": ann.get("/api/v1/me").get_json(),
        "AcceptedBody": ann.submit(ann.action_token()).get_json(),
        "Error": client.get("/api/v1/leaderboard?limit=101").get_json(),
    }
    for name, body in bodies.items():
        _validator(doc, name).validate(body)
        with pytest.raises(ValidationError):
            _validator(doc, name).validate({**body, "country": "NZ"})
    entry = bodies["Leaderboard"]["leaderboard"][0]
    with pytest.raises(ValidationError):
        _validator(doc, "Entry").validate({**entry, "country": "NZ"})


def test_query_bounds_are_the_ones_the_server_enforces(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/leaderboard"]["get"]["parameters"]}
    assert params["limit"]["maximum"] == 100 and params["offset"]["maximum"] == 10**9
    assert client.get("/api/v1/leaderboard?offset=1000000000").status_code == 200  # past the end: empty
    assert client.get("/api/v1/leaderboard?offset=1000000001").status_code == 400
    assert client.get("/api/v1/leaderboard?limit=100").status_code == 200
    assert client.get("/api/v1/leaderboard?limit=101").status_code == 400
