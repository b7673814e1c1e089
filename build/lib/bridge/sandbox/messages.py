"""`POST /messages` in the sandbox: admin-initiated emails, checked as Intercom does and kept."""

from __future__ import annotations

from typing import Any

from bridge.sandbox.workspace import JSON, ApiError, Workspace, user_not_found

ADMIN_ID = "991267716"  # the sandbox's one admin, the sender of every message
_ADMIN = {
    "type": "admin",
    "id": ADMIN_ID,
    "name": "Sandbox Admin",
    "email": "admin@sandbox.example",
    "away_mode_enabled": False,
    "away_mode_reassign": False,
}


def create_message(
    workspace: Workspace, body: Any, *, now: float, lag: float, sent: list[JSON]
) -> JSON:
    """Check and keep one email or in-app message; 404 for a contact not messageable yet."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    message_type = body.get("message_type", "in_app")
    if message_type not in ("email", "in_app"):
        raise ApiError(400, "parameter_invalid", "message_type must be email or in_app")
    if not isinstance(body.get("body"), str) or not body["body"]:
        raise ApiError(400, "parameter_invalid", "Body is required")
    subject = body.get("subject")
    if message_type == "email" and (not isinstance(subject, str) or not subject):
        raise ApiError(422, "parameter_not_found", "No subject supplied for email message")
    sender, recipient = body.get("from"), body.get("to")
    if not isinstance(sender, dict) or sender.get("type") != "admin":
        raise ApiError(400, "parameter_invalid", "from must be an admin")
    if str(sender.get("id")) != ADMIN_ID:
        raise ApiError(400, "parameter_invalid", "from.id is not an admin of this workspace")
    if not isinstance(recipient, dict) or recipient.get("type") not in ("user", "lead"):
        raise ApiError(400, "parameter_invalid", "to must be a user or a lead")
    contact_id = str(recipient.get("id", ""))
    # Intercom: "There can be a short delay between when a contact is created and when a
    # contact becomes available to be messaged through the API. A 404 ... in this case."
    if contact_id not in workspace.contacts or now < workspace.visible_at[contact_id] + lag:
        raise user_not_found()
    message: JSON = {
        "type": "admin_message",
        "id": str(403_918_000 + len(sent)),
        "created_at": int(now),
        "subject": subject or "",
        "body": body["body"],
        "message_type": "email" if message_type == "email" else "inapp",
        # The 2.11 schema requires it, though no conversation exists until the contact replies.
        "conversation_id": str(476 + len(sent)),
        "owner": dict(_ADMIN),
    }
    sent.append({**message, "to": {"type": recipient["type"], "id": contact_id}})
    return message
