"""Tests for deploy/prometheus: the alert rules are valid, pass their promtool unit tests, and
watch only metrics the bridge serves.

promtool comes with Debian's `prometheus` package; without it these tests skip locally and
fail in CI, where .ci/run installs it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from bridge.metrics import Metrics
from tests.tools import ci_tool

RULES = Path(__file__).parents[2] / "deploy" / "prometheus"
ALERTS = RULES / "alerts.yml"


def _promtool() -> str:
    """The promtool on PATH (see `ci_tool`)."""
    return ci_tool("promtool", "prometheus")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """promtool with these arguments, in deploy/prometheus."""
    return subprocess.run(
        [_promtool(), *args], cwd=RULES, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_alert_rules_are_valid() -> None:
    checked = _run("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_the_alert_rules_pass_their_unit_tests() -> None:
    tested = _run("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _alerts() -> list[dict[str, object]]:
    """Every alerting rule in alerts.yml."""
    groups = yaml.safe_load(ALERTS.read_text("utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_alert_is_unit_tested() -> None:
    tests = (RULES / "alerts_test.yml").read_text("utf-8")
    untested = [rule["alert"] for rule in _alerts() if f"alertname: {rule['alert']}" not in tests]
    assert untested == []


def test_the_alerts_watch_only_metrics_the_bridge_serves() -> None:
    served = set()
    for family in Metrics().registry.collect():
        served.add(family.name)
        if family.type == "counter":
            served.add(f"{family.name}_total")
    watched = {
        name for rule in _alerts() for name in re.findall(r"\bbridge_\w+", str(rule["expr"]))
    }
    assert watched, "the rules watch no bridge metric"
    assert watched <= served, watched - served
