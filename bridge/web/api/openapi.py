"""The OpenAPI 3.1 description of the bridge's JSON API, served at /api/v1/openapi.json.

Written by hand and checked by the tests against real responses, so it cannot drift from
what the API does. The links schemas are in `openapi_links`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bridge.web.api.openapi_links import (
    LINKS_OPERATION,
    LINKS_SCHEMAS,
    SECURITY_SCHEMES,
    error_response,
)


def _version() -> str:
    try:
        return version("intercom-consent-bridge")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


_TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "description": "The signed token of a preferences link (`bridge link preferences`): "
    "three dot-separated base64url parts. One that is well formed but not signed by the "
    "bridge, or has expired, is answered 400.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$"},
}
_NOT_FOUND = error_response("No such address (a token cut short at a slash, say).")
_LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "description": "Preferred language (e.g. `fr`); before the link's locale and Accept-Language.",
    "schema": {"type": "string", "maxLength": 35},
}
_PREFERENCES = {
    "description": "The link's subscription types and the contact's state for each.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Preferences"}}},
}

_SCHEMAS: dict[str, Any] = {
    "Choice": {
        "type": "object",
        "required": [
            "id",
            "name",
            "description",
            "locale",
            "channel",
            "consent_type",
            "subscribed",
            "updating",
        ],
        "properties": {
            "id": {"type": "string", "description": "Intercom subscription type id."},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "locale": {"type": "string", "description": "Language of name and description."},
            "channel": {"type": ["string", "null"], "enum": ["email", "sms", None]},
            "consent_type": {"type": "string", "enum": ["opt_in", "opt_out"]},
            "subscribed": {
                "type": ["boolean", "null"],
                "description": "Whether the contact receives it; null when Intercom could "
                "not be asked just now.",
            },
            "updating": {
                "type": "boolean",
                "description": "A recorded change is still on its way to Intercom.",
            },
        },
        "additionalProperties": False,
    },
    "Preferences": {
        "type": "object",
        "required": ["locale", "who", "scope", "state_known", "types"],
        "properties": {
            "locale": {"type": "string", "description": "Language chosen for the person."},
            "who": {
                "type": ["string", "null"],
                "description": "The person's email or phone, masked.",
            },
            "scope": {
                "type": "object",
                "properties": {
                    "channel": {"type": "string", "enum": ["email", "sms"]},
                    "types": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            },
            "state_known": {"type": "boolean"},
            "types": {"type": "array", "items": {"$ref": "#/components/schemas/Choice"}},
            "recorded": {
                "type": "integer",
                "minimum": 0,
                "description": "PUT only: consent requests newly recorded, one per changed "
                "type; 0 when nothing changed or the same Idempotency-Key was sent before.",
            },
        },
        "additionalProperties": False,
    },
    "Change": {
        "oneOf": [
            {
                "type": "object",
                "required": ["types"],
                "properties": {
                    "types": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["id", "subscribed"],
                            "properties": {
                                "id": {"type": "string"},
                                "subscribed": {"type": "boolean"},
                            },
                            "additionalProperties": False,
                        },
                    }
                },
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["unsubscribe_all"],
                "properties": {"unsubscribe_all": {"const": True}},
                "additionalProperties": False,
            },
        ]
    },
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
}


def openapi_document(public_url: str) -> dict[str, Any]:
    """The document, with the deployment's public URL as its server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Intercom consent bridge",
            "version": _version(),
            "description": "Read and change a person's Intercom subscriptions with the token "
            "of their signed preferences link. Changes are recorded durably and applied to "
            "Intercom by the bridge's worker, in order, within Intercom's rate limits. A "
            "sending system holding the admin token gets people's signed links in bulk.",
        },
        "servers": [{"url": f"{public_url}/api/v1"}],
        "paths": {
            "/preferences/{token}": {
                "parameters": [_TOKEN],
                "get": {
                    "operationId": "getPreferences",
                    "summary": "A person's subscription types and states",
                    "parameters": [_LANG],
                    "responses": {
                        "200": _PREFERENCES,
                        "400": error_response("The token is invalid or expired."),
                        "404": _NOT_FOUND,
                    },
                },
                "put": {
                    "operationId": "changePreferences",
                    "summary": "Subscribe or unsubscribe a person from types",
                    "parameters": [
                        _LANG,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "Retrying with the same key records nothing twice "
                            "(the key is scoped to the link: another person's same key is "
                            "their own).",
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,64}$"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Change"}}
                        },
                    },
                    "responses": {
                        "200": _PREFERENCES,
                        "400": error_response(
                            "The token is invalid or expired, the Idempotency-Key is "
                            "malformed, or the body is not JSON."
                        ),
                        "404": _NOT_FOUND,
                        "413": error_response("The body is too large."),
                        "415": error_response("The body is not application/json."),
                        "422": error_response(
                            "The body names a type not on this link, or is malformed."
                        ),
                        "503": error_response("Nothing was recorded; retry later."),
                    },
                },
            },
            "/links": {"post": LINKS_OPERATION},
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenAPI",
                    "summary": "This document",
                    "responses": {"200": {"description": "The OpenAPI document."}},
                }
            },
        },
        "components": {
            "schemas": {**_SCHEMAS, **LINKS_SCHEMAS},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
