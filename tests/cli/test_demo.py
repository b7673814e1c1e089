"""`bridge demo` as a newcomer runs it: a real process whose printed links work."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import free_port

pytestmark = pytest.mark.slow  # a real `bridge demo` process per test


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`bridge demo` running in a fresh folder: its base URL and what it printed."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "INTERCOM_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "demo", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        printed = _wait_for(process, base)
        yield base, printed
    finally:
        process.terminate()
        process.communicate(timeout=10)  # drains and closes the pipe


def _wait_for(process: subprocess.Popen[str], base: str) -> str:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Press a button"):
            break
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return "".join(lines)
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the demo did not start:\n" + "".join(lines))


def test_demo_prints_working_unsubscribe_and_preference_links(demo: tuple[str, str]) -> None:
    base, printed = demo
    links = re.findall(rf"^\s+({re.escape(base)}/\S+)$", printed, re.MULTILINE)
    preferences = [link for link in links if "/preferences/" in link]
    unsubscribe = [link for link in links if "/unsubscribe/" in link]
    assert len(preferences) == 2 and unsubscribe, printed
    english = httpx.get(preferences[0])
    assert english.status_code == 200
    assert '<html lang="en"' in english.text and "Your subscriptions" in english.text
    french = httpx.get(preferences[1])
    assert '<html lang="fr"' in french.text and "Vos abonnements" in html.unescape(french.text)
    assert 'type="checkbox"' in french.text
    assert httpx.get(unsubscribe[0]).status_code == 200
    overview = httpx.get(f"{base}/")
    assert overview.status_code == 200 and "/preferences/" in overview.text


def test_demo_keeps_a_ledger_of_its_own(demo: tuple[str, str], tmp_path: Path) -> None:
    # The real default, bridge.db, is never touched: the demo's people must not reach it.
    _, printed = demo
    assert "ledger: sqlite:///bridge-demo.db" in printed
    assert (tmp_path / "bridge-demo.db").exists()
    assert not (tmp_path / "bridge.db").exists()
