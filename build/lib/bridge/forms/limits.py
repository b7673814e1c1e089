"""How often one IP address, or one email address, may post forms: sliding windows in memory.

The counts live in the process (several web processes each count their own share), on the
monotonic seconds the caller passes in, so a test moves a `ManualClock` instead of sleeping.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """At most `posts` in any `seconds`."""

    posts: int
    seconds: float


# A person sends a form once, and an office or a household behind one address a few times a
# minute at most; ten a minute lets them all through and holds a script on one address to
# 600 an hour.
PER_IP = Limit(10, 60.0)
# Three in an hour covers a typo fixed and a form sent again; past that someone is signing up
# (or unsubscribing) an address that is not theirs, over and over.
PER_ADDRESS = Limit(3, 3600.0)
# Past this many addresses tracked at once, those idle longest are forgotten first, so a flood
# of distinct addresses cannot grow the process without bound.
MAX_KEYS = 100_000


class SlidingWindow:
    """Counts posts per key over the last `limit.seconds`; refuses those past `limit.posts`."""

    def __init__(self, limit: Limit, *, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> float | None:
        """Count a post by `key` at `now`; None if allowed, else the seconds until one is."""
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.limit.seconds:
            hits.popleft()
        self._hits[key] = hits  # re-inserted last: the dict's order is least recently seen
        if len(hits) >= self.limit.posts:
            return max(1.0, math.ceil(hits[0] + self.limit.seconds - now))
        hits.append(now)
        if len(self._hits) > self.max_keys:
            self._forget(now)
        return None

    def _forget(self, now: float) -> None:
        """Drop the keys seen least recently (the dict's first) until back under the cap.

        They are the idle ones, so this costs one step per post, where scanning every key
        for idle ones would cost a flood of distinct addresses 100,000 steps a post.
        """
        while len(self._hits) > self.max_keys:
            del self._hits[next(iter(self._hits))]

    def __len__(self) -> int:
        return len(self._hits)


class FormLimits:
    """The windows one web process keeps for all its forms: per IP and per address."""

    def __init__(self, per_ip: Limit = PER_IP, per_address: Limit = PER_ADDRESS) -> None:
        self.per_ip = SlidingWindow(per_ip)
        self.per_address = SlidingWindow(per_address)
