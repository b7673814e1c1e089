"""The OpenAPI description of `POST /api/v1/links`: its operation, schemas and bearer scheme.

The request schemas are as loose as the API is forgiving (it trims identities and type ids):
everything they forbid, the API refuses too, which is what the contract test checks.
"""

from __future__ import annotations

from typing import Any

from bridge.links import ONE_CLICK
from bridge.web.api.link_batch import MAX_BODY_BYTES, MAX_PEOPLE


def error_response(description: str) -> dict[str, Any]:
    """A response whose body is the API's Error object."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


SECURITY_SCHEMES = {
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "`BRIDGE_ADMIN_TOKEN`. While it is unset the links route does not exist.",
    }
}

_IDENTITY = {
    "contact_id": {"type": "string", "minLength": 1, "description": "Intercom contact id."},
    "email": {"type": "string", "minLength": 1, "maxLength": 254},
    "phone": {
        "type": "string",
        "minLength": 1,
        "description": "International form: + and the country code; answered in E.164.",
    },
    "external_id": {"type": "string", "minLength": 1, "description": "Your own id for them."},
}
_SCOPE_AND_LOCALE = {
    "subscription": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "pattern": "^[^,]+$"},
        "description": "Intercom subscription type ids the links cover; each must be live.",
    },
    "channel": {
        "type": "string",
        "enum": ["email", "sms"],
        "description": "Every live type of one channel (instead of subscription).",
    },
    "locale": {
        "type": "string",
        "maxLength": 35,
        "description": "Language tag for the pages the links open (`fr`, `pt-BR`).",
    },
}
_NOT_BOTH = {"not": {"required": ["subscription", "channel"]}}

LINKS_SCHEMAS: dict[str, Any] = {
    "LinksRequest": {
        "type": "object",
        "required": ["people"],
        "properties": {
            "people": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_PEOPLE,
                "items": {"$ref": "#/components/schemas/LinkPerson"},
            },
            **_SCOPE_AND_LOCALE,
        },
        "additionalProperties": False,
        **_NOT_BOTH,
        "description": "`subscription` or `channel` and `locale` here apply to every person "
        "who names none of their own; with neither, links cover every live type.",
    },
    "LinkPerson": {
        "type": "object",
        "properties": {**_IDENTITY, **_SCOPE_AND_LOCALE},
        "oneOf": [{"required": [name]} for name in _IDENTITY],
        "additionalProperties": False,
        **_NOT_BOTH,
        "description": "Exactly one identity field; scope and locale override the batch's.",
    },
    "PersonLinks": {
        "type": "object",
        "required": [
            "unsubscribe_url",
            "preferences_url",
            "list_unsubscribe",
            "list_unsubscribe_post",
        ],
        "properties": {
            **{name: {"type": "string"} for name in _IDENTITY},
            "unsubscribe_url": {"type": "string", "format": "uri"},
            "preferences_url": {"type": "string", "format": "uri"},
            "list_unsubscribe": {
                "type": "string",
                "description": "The `List-Unsubscribe` header value: `<unsubscribe_url>`.",
            },
            "list_unsubscribe_post": {
                "const": ONE_CLICK,
                "description": "The `List-Unsubscribe-Post` header value (RFC 8058).",
            },
        },
        "additionalProperties": False,
        "description": "One person's links, with their identity as checked (a phone in E.164).",
    },
    "Links": {
        "type": "object",
        "required": ["links", "warnings"],
        "properties": {
            "links": {"type": "array", "items": {"$ref": "#/components/schemas/PersonLinks"}},
            "warnings": {
                "type": "array",
                "items": {"type": "string"},
                "description": "What went unchecked (Intercom did not answer in time) or will "
                "not work as well as it could; the links are made all the same.",
            },
        },
        "additionalProperties": False,
    },
}

LINKS_OPERATION: dict[str, Any] = {
    "operationId": "makeLinks",
    "summary": "Signed unsubscribe and preference links for up to 10,000 people",
    "description": "For a sending system, at send time. Answers each person in the order "
    "sent. Type ids are checked against the workspace's live types; when Intercom cannot be "
    "asked the links are made anyway, with a warning.",
    "security": [{"adminToken": []}],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LinksRequest"}}},
    },
    "responses": {
        "200": {
            "description": "Every person's links.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Links"}}},
        },
        "400": error_response("The body is not JSON."),
        "401": error_response("No admin token, or the wrong one."),
        "404": error_response("`BRIDGE_ADMIN_TOKEN` is not set: the route is off."),
        "413": error_response(f"The body is over {MAX_BODY_BYTES} bytes."),
        "415": error_response("The body is not application/json."),
        "422": error_response(
            "A mistake in the body (`field` names the first one's place, like "
            "`people[3].email`, and the message up to ten), more than 10,000 people, or a "
            "type id that is not live in the workspace."
        ),
    },
}
