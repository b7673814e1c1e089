"""Sliding windows: posts past the limit wait for the oldest to leave; memory stays bounded."""

from __future__ import annotations

from bridge.forms.limits import Limit, SlidingWindow


def test_posts_past_the_limit_wait_until_the_oldest_leaves_the_window() -> None:
    window = SlidingWindow(Limit(3, 60.0))
    assert [window.hit("ip", t) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    assert window.hit("ip", 30.0) == 30.0  # the post at 0 leaves at 60
    assert window.hit("other", 30.0) is None  # each key counts its own
    assert window.hit("ip", 59.5) == 1.0  # never less than a second
    assert window.hit("ip", 60.0) is None
    assert window.hit("ip", 61.0) == 9.0  # refused posts were not counted


def test_the_least_recently_seen_keys_are_forgotten_and_the_count_is_bounded() -> None:
    window = SlidingWindow(Limit(1, 60.0), max_keys=3)
    for n, key in enumerate("abc"):
        window.hit(key, float(n))
    window.hit("a", 100.0)  # a again: seen most recently, and its window restarted
    window.hit("d", 100.0)  # b, seen least recently, is forgotten
    assert len(window) == 3
    assert window.hit("b", 100.0) is None  # b starts afresh; c goes
    assert window.hit("a", 100.0) is not None  # a is still counted
    for key in "efg":
        window.hit(key, 101.0)
    assert len(window) == 3
    assert window.hit("g", 102.0) is not None and window.hit("a", 102.0) is None
