"""What logs may show of people: masked addresses and numbers, in free text too."""

from __future__ import annotations

import pytest

from bridge.logsafe import mask_email, mask_phone, scrub


def test_masks_keep_what_correlates_and_nothing_that_reaches_the_person() -> None:
    assert mask_email("jane@example.com") == "j***@example.com"
    assert mask_phone("+353871234567") == "***67"


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("lead for Jane.Doe+news@mail.example.co.uk made", "lead for J***@mail.example.co.uk made"),
        ("STOP from +353 87 123 4567.", "STOP from ***67."),
        ("STOP from +14155550123", "STOP from ***23"),
        ("already j***@example.com and ***67", "already j***@example.com and ***67"),
    ],
)
def test_scrub_masks_addresses_and_international_numbers_in_free_text(
    text: str, scrubbed: str
) -> None:
    assert scrub(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-29T00:51:18.447+00:00",
        "request 12345678 applied in 0.0107 s",
        "POST /contacts/{id}/subscriptions 200",
        "/unsubscribe/ZWxlYX…",
    ],
)
def test_scrub_leaves_times_ids_and_paths_alone(text: str) -> None:
    assert scrub(text) == text
