"""PostgreSQL: processes rewriting one ledger_meta row take turns (the shared rate budget's row)."""

from __future__ import annotations

import asyncio

import pytest

from bridge.ledger import Ledger, open_ledger

pytestmark = pytest.mark.postgres


async def test_concurrent_updates_from_separate_pools_never_interleave(
    postgres_url: str, postgres_ledger: Ledger
) -> None:
    others = [await open_ledger(postgres_url) for _ in range(3)]
    try:

        def count(text: str | None) -> tuple[str, int]:
            seen = int(text or "0")
            return str(seen + 1), seen

        async def bump(ledger: Ledger) -> list[int]:
            return [await ledger.update_meta("counter", count) for _ in range(20)]

        seen = await asyncio.gather(*(bump(ledger) for ledger in [postgres_ledger, *others]))
    finally:
        for ledger in others:
            await ledger.close()
    # Each value was handed out once: no two transactions read the same row version.
    assert sorted(v for values in seen for v in values) == list(range(80))
    assert await postgres_ledger.meta("counter") == "80"
