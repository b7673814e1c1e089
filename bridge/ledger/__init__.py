"""The consent ledger: durable requests, their processing state and outcomes."""

from .database import DEFAULT_URL
from .history import History
from .models import (
    Claimed,
    ConfirmClick,
    Confirmed,
    KeptPayload,
    LedgerUnavailable,
    MessagePart,
    Outcome,
    Person,
    Pruned,
    Recorded,
    Recording,
    RecordStats,
    RequestRecord,
    RequestStory,
    Status,
)
from .store import Ledger, open_ledger

__all__ = [
    "DEFAULT_URL",
    "Claimed",
    "ConfirmClick",
    "Confirmed",
    "History",
    "KeptPayload",
    "Ledger",
    "LedgerUnavailable",
    "MessagePart",
    "Outcome",
    "Person",
    "Pruned",
    "RecordStats",
    "Recorded",
    "Recording",
    "RequestRecord",
    "RequestStory",
    "Status",
    "open_ledger",
]
