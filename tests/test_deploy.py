"""The systemd units in deploy/systemd: `systemd-analyze verify`, and their fit to the code.

`verify` checks that each unit's `ExecStart` program exists, and the units run the bridge from
where docs/deploy.md installs it, /opt/bridge/.venv. So the units are verified, byte for byte,
in a throwaway root (`--root`) holding them, the host's own system units (the targets they
name), and this checkout's `bridge` console script at that path. `verify` exits 0 after a
misspelled key or a value it cannot parse (it only prints them), so any output fails too.
Skipped without systemd-analyze (Debian's `systemd` package), except in CI.
"""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.settings import ENVIRONMENT, load_settings
from bridge.web.server import GuardedHttpToolsProtocol
from bridge.worker import Worker
from tests.tools import ci_tool

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "deploy" / "systemd"
INSTALLED_BRIDGE = "opt/bridge/.venv/bin/bridge"  # ExecStart's program, under the root
HOST_UNITS = Path("/usr/lib/systemd/system")
# Read by uvicorn and `bridge serve` rather than by Settings.
NOT_IN_SETTINGS = {"PORT", "FORWARDED_ALLOW_IPS"}


def _systemd_analyze() -> str:
    """The systemd-analyze on PATH (see `ci_tool`)."""
    return ci_tool("systemd-analyze", "systemd")


def _unit(name: str) -> dict[str, list[str]]:
    """A unit file's settings, each key with every value it is given."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def _seconds(value: str) -> float:
    """A systemd time span in the forms these units use: `30s`, `2min`, `90`."""
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    assert match, value
    return float(match[1]) * (60 if match[2] == "min" else 1)


def _example_env() -> dict[str, str]:
    """bridge.env.example as systemd reads it: KEY=VALUE lines, comments skipped."""
    text = (UNITS / "bridge.env.example").read_text()
    pairs = (line.partition("=") for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, _, value in pairs}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root for `verify --root`: the units, the host's system units, the bridge program."""
    _systemd_analyze()
    units = tmp_path / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for unit in UNITS.glob("*.service"):
        shutil.copy(unit, units)
    shutil.copytree(HOST_UNITS, tmp_path / HOST_UNITS.relative_to("/"), symlinks=True)
    program = tmp_path / INSTALLED_BRIDGE
    program.parent.mkdir(parents=True)
    shutil.copy(Path(sys.executable).parent / "bridge", program)
    return tmp_path


def _verify(root: Path, *units: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_systemd_analyze(), "verify", f"--root={root}", *units],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_units_verify(root: Path) -> None:
    result = _verify(root, "bridge-web.service", "bridge-worker@1.service")
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_a_misspelled_key_fails_the_check(root: Path) -> None:
    unit = root / "etc" / "systemd" / "system" / "bridge-web.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=", "ProtectSytem="))
    result = _verify(root, "bridge-web.service")
    assert "Unknown key 'ProtectSytem'" in result.stderr


def test_a_missing_program_fails_the_check(root: Path) -> None:
    (root / INSTALLED_BRIDGE).unlink()
    assert _verify(root, "bridge-worker@1.service").returncode != 0


def test_the_units_run_what_the_procfile_runs() -> None:
    procfile = dict(
        line.split(": ", 1) for line in (REPO / "Procfile").read_text().splitlines() if line
    )
    for unit, process in (("bridge-web.service", "web"), ("bridge-worker@.service", "worker")):
        (exec_start,) = _unit(unit)["ExecStart"]
        program, *arguments = exec_start.split()
        assert program == "/" + INSTALLED_BRIDGE
        assert arguments[0] == procfile[process].split()[1]


def test_the_worker_has_time_to_finish_or_release() -> None:
    grace = inspect.signature(Worker.stop).parameters["grace"].default
    (stop,) = _unit("bridge-worker@.service")["TimeoutStopSec"]
    assert grace < _seconds(stop)


def test_the_web_process_has_time_for_a_request_and_its_worker() -> None:
    grace = inspect.signature(Worker.stop).parameters["grace"].default
    request = GuardedHttpToolsProtocol.header_seconds + GuardedHttpToolsProtocol.body_seconds
    (stop,) = _unit("bridge-web.service")["TimeoutStopSec"]
    assert request + grace < _seconds(stop)


def test_the_example_names_only_real_settings() -> None:
    text = (UNITS / "bridge.env.example").read_text()
    named = set(re.findall(r"^#?([A-Z_]+)=", text, flags=re.MULTILINE))
    assert len(named) > len(_example_env())  # the commented-out ones are counted too
    assert named - set(ENVIRONMENT) <= NOT_IN_SETTINGS


def test_the_example_loads_once_its_blanks_are_filled() -> None:
    example = _example_env()
    blanks = sorted(key for key, value in example.items() if not value)
    assert blanks == ["BRIDGE_SECRET_KEYS", "INTERCOM_ACCESS_TOKEN"]
    filled = {"BRIDGE_SECRET_KEYS": "k" * 32, "INTERCOM_ACCESS_TOKEN": "token"}
    settings = load_settings({**example, **filled})
    assert settings.public_url == "https://consent.example.com"
    assert settings.database_url.startswith("postgresql://")
    assert settings.worker.in_process is False
