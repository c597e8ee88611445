"""The OpenAPI 3.1 document, generated with apispec from the schemas; each protocol adds its
part (``app/<protocol>/openapi.py``) through :func:`register`.

``GET /openapi.json`` serves it. Bodies come from the marshmallow schemas in
:mod:`app.envelopes` and each protocol's ``schemas`` module, so the document and the wire
share one description; the examples are the spec's own bodies, byte for byte. The document
does not depend on the request or the settings, so each app builds it once, on first use.

What OpenAPI cannot say is said in descriptions: Hue answers HTTP 200 whatever happened
(the outcome is a ``oneOf`` success/error item), a chunked Nest subscribe is a long-poll whose
chunks are each an ``{"objects":[…]}`` body, and the device identity comes from any of
several headers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app
from marshmallow import Schema, fields

from app.envelopes import json_response

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
_EXTENSION = "homepair.openapi"
_LOCK = threading.Lock()

bp = Blueprint("openapi", __name__)


class HealthSchema(Schema):
    """``GET /healthz``: each part's state; ``error`` (503) only when the database fails."""

    status = fields.String(required=True, metadata={"enum": ["ok", "degraded", "error"]})
    database = fields.String(required=True, metadata={"enum": ["ok", "down"]})
    migrations = fields.String(
        required=True, metadata={"enum": ["head", "behind", "not migrated", "unknown"]}
    )
    redis = fields.String(required=True, metadata={"enum": ["ok", "down", "not used"]})


def _constant(self: Any, field: fields.Field, **_kwargs: Any) -> dict:
    """apispec attribute function: a ``fields.Constant`` is a one-value enum of its type."""
    if not isinstance(field, fields.Constant):
        return {}
    kind = {str: "string", bool: "boolean", int: "integer"}.get(type(field.constant))
    return {"type": kind, "enum": [field.constant]} if kind else {"enum": [field.constant]}


# --- small builders ----------------------------------------------------------------------


def body(
    schema: Any, description: str, examples: dict | None = None, headers: dict | None = None
) -> dict:
    """A JSON response object; ``examples`` maps a name to a body."""
    media: dict[str, Any] = {"schema": schema}
    if examples:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}
    response: dict[str, Any] = {"description": description, "content": {JSON: media}}
    if headers:
        response["headers"] = headers
    return response


def request_body(schema: Any, required: bool = True, description: str | None = None) -> dict:
    body: dict[str, Any] = {"required": required, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def query(name: str, description: str, **schema: Any) -> dict:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def path_param(name: str, description: str, **schema: Any) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def items(*schemas: Any) -> dict:
    """A Hue result array whose elements are one of ``schemas``."""
    return {"type": "array", "minItems": 1, "items": {"oneOf": list(schemas)}}


RETRY_AFTER = {
    "Retry-After": {
        "description": "Whole seconds until the exhausted limit frees a slot (at least 1).",
        "schema": {"type": "integer", "minimum": 1},
    }
}
WWW_BEARER = {"WWW-Authenticate": {"description": "Always `Bearer`.", "schema": {"type": "string"}}}


# --- each protocol's part ----------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One protocol's share of the document: its tags, security schemes and paths.

    A protocol registers its part (:func:`register`) when its package is imported, from an
    ``openapi`` module beside its views, so paths, messages and patterns are written where the
    protocol defines them.
    """

    name: str
    order: int  # where its paths stand in the document
    tags: tuple[dict, ...]
    paths: Callable[[APISpec], None]
    security_schemes: dict = field(default_factory=dict)


PARTS: list[Part] = []


def register(part: Part) -> None:
    """Add ``part`` to the document (once per name; later imports do not repeat it)."""
    if all(existing.name != part.name for existing in PARTS):
        PARTS.append(part)
        PARTS.sort(key=lambda each: each.order)


def _health(spec: APISpec) -> None:
    spec.path(
        path="/healthz",
        operations={
            "get": {
                "tags": ["health"],
                "operationId": "healthz",
                "summary": "The database, the migrations and Redis, each on its own",
                "responses": {
                    "200": body(
                        HealthSchema,
                        "Serving: `ok`, or `degraded` when Redis is down or the schema is not "
                        "at the newest migration.",
                        {
                            "ok": {
                                "status": "ok",
                                "database": "ok",
                                "migrations": "head",
                                "redis": "ok",
                            },
                            "degraded": {
                                "status": "degraded",
                                "database": "ok",
                                "migrations": "head",
                                "redis": "down",
                            },
                        },
                    ),
                    "503": body(
                        HealthSchema,
                        "The database failed.",
                        {
                            "error": {
                                "status": "error",
                                "database": "down",
                                "migrations": "unknown",
                                "redis": "not used",
                            }
                        },
                    ),
                },
            }
        },
    )


# --- the document --------------------------------------------------------------------------


def build_spec() -> dict:
    """Generate the OpenAPI document (a plain dict, keys in the order they are written)."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="homepair",
        version="0.1.0",
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": (
                "Self-hosted registration server: Nest thermostats (NoLongerEvil firmware), "
                "Philips Hue v1 apps and Ruuvi Cloud sign-in on one port. JSON bodies are "
                "parsed whatever their Content-Type; keys go out in the order shown."
            )
        },
        tags=[
            *(tag for part in PARTS for tag in part.tags),
            {"name": "health", "description": "Liveness."},
        ],
    )
    assert plugin.converter is not None  # made by spec.plugins' init_spec above
    plugin.converter.add_attribute_function(_constant)
    for part in PARTS:
        for name, scheme in part.security_schemes.items():
            spec.components.security_scheme(name, scheme)
    for part in PARTS:
        part.paths(spec)
    _health(spec)
    document = spec.to_dict()
    # Readers expect the version first; apispec writes it after the paths.
    return {"openapi": document.pop("openapi"), **document}


def document() -> dict:
    """This app's OpenAPI document, built on first use and kept for the app's lifetime."""
    extensions = current_app.extensions
    if _EXTENSION not in extensions:
        with _LOCK:
            if _EXTENSION not in extensions:
                extensions[_EXTENSION] = build_spec()
    return extensions[_EXTENSION]


@bp.get("/openapi.json")
def openapi_json():
    """``GET /openapi.json``: the OpenAPI document."""
    return json_response(document())
