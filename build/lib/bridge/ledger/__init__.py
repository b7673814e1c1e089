"""The consent ledger: durable requests, their processing state and outcomes."""

from .database import DEFAULT_URL
from .models import (
    Claimed,
    ConfirmClick,
    Confirmed,
    LedgerUnavailable,
    MessagePart,
    Outcome,
    Recorded,
    Recording,
    RecordStats,
    RequestRecord,
    Status,
)
from .store import Ledger, open_ledger

__all__ = [
    "DEFAULT_URL",
    "Claimed",
    "ConfirmClick",
    "Confirmed",
    "Ledger",
    "LedgerUnavailable",
    "MessagePart",
    "Outcome",
    "RecordStats",
    "Recorded",
    "Recording",
    "RequestRecord",
    "Status",
    "open_ledger",
]
