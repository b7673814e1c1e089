"""The hashed locks: compiled from pyproject.toml as it is now, pins within its floors, PyPI only.

No network: each lock's header records a hash of the dependency lists it was compiled from
(see scripts/lock.py), and every pin is checked against pyproject.toml's specifiers.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]
RELOCK = "run `python3 scripts/lock.py` and commit requirements/"


def _load_lock_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_script", ROOT / "scripts" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock_script = _load_lock_script()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def read_lock(name: str) -> str:
    return (ROOT / "requirements" / name).read_text(encoding="utf-8")


def pins(text: str) -> list[tuple[Requirement, int]]:
    """Each pinned requirement of a lock, with how many hashes it carries."""
    found = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement, *hashes = re.split(r"\s+--hash=", line)
        found.append((Requirement(requirement), len(hashes)))
    return found


def problems(pyproject: dict[str, object], extras: tuple[str, ...], text: str) -> list[str]:
    """Why a lock cannot be installed for pyproject.toml as it is; empty when it can."""
    inputs = lock_script.dependency_inputs(pyproject, extras)
    found = []
    recorded = [
        line.removeprefix(lock_script.FINGERPRINT_PREFIX)
        for line in text.splitlines()
        if line.startswith(lock_script.FINGERPRINT_PREFIX)
    ]
    if recorded != [lock_script.fingerprint(inputs)]:
        found.append(f"compiled from other dependency lists than pyproject.toml's: {RELOCK}")
    # Options (-e, --index-url, --find-links) and URLs would name a machine's own files.
    if any(line.startswith("-") for line in text.splitlines()) or "://" in text:
        found.append("names an index, a URL or a local path: it must resolve from PyPI alone")
    pinned: dict[str, list[str]] = {}
    for requirement, hashes in pins(text):
        (specifier,) = requirement.specifier
        pinned.setdefault(canonicalize_name(requirement.name), []).append(specifier.version)
        if hashes == 0:
            found.append(f"{requirement.name} has no hash")
    wanted = [*inputs["dependencies"]] + [r for extra in extras for r in inputs["extras"][extra]]
    for line in wanted:
        requirement = Requirement(line)
        versions = pinned.get(canonicalize_name(requirement.name), [])
        if not versions and requirement.marker is None:
            found.append(f"{requirement.name} is not pinned: {RELOCK}")
        for version in versions:
            if not requirement.specifier.contains(version, prereleases=True):
                found.append(f"{requirement.name}=={version} is outside {line}: {RELOCK}")
    return found


@pytest.mark.parametrize(("name", "extras"), lock_script.LOCKS.items(), ids=lock_script.LOCKS)
def test_lock_matches_pyproject(name: str, extras: tuple[str, ...]) -> None:
    found = problems(PYPROJECT, extras, read_lock(name))
    assert not found, f"requirements/{name}: " + "; ".join(found)


def versions(text: str) -> set[tuple[str, str]]:
    return {(canonicalize_name(r.name), str(r.specifier)) for r, _ in pins(text)}


def test_deployments_run_the_versions_ci_tests() -> None:
    assert versions(read_lock("deploy.txt")) <= versions(read_lock("test.txt"))


# The checks themselves, on a small pyproject.toml and a lock compiled from it.
SMALL = {
    "project": {"requires-python": ">=3.11", "dependencies": ["starlette>=1.5.1", "h11>=0.16"]}
}
BODY = """\
h11==0.16.0 \\
    --hash=sha256:0b3a
    # via starlette
starlette==1.10.0 \\
    --hash=sha256:4ea6 \\
    --hash=sha256:69ed
"""


def small(*dependencies: str) -> dict[str, object]:
    return {"project": {**SMALL["project"], "dependencies": list(dependencies)}}


def lock_for(pyproject: dict[str, object], body: str = BODY) -> str:
    inputs = lock_script.dependency_inputs(pyproject, ())
    return lock_script.header("deploy.txt", (), inputs) + body


def test_a_current_lock_passes() -> None:
    assert problems(SMALL, (), lock_for(SMALL)) == []


def test_spacing_and_order_do_not_make_a_lock_stale() -> None:
    assert problems(small("h11 >= 0.16", "starlette>=1.5.1"), (), lock_for(SMALL)) == []


def test_a_floor_changed_without_relocking_is_caught() -> None:
    changed = small("starlette>=1.6", "h11>=0.16")
    assert problems(changed, (), lock_for(SMALL)) == [
        f"compiled from other dependency lists than pyproject.toml's: {RELOCK}"
    ]


def test_a_pin_outside_a_floor_is_caught() -> None:
    # A header edited by hand to match, say: the pins still tell.
    changed = small("starlette>=99", "h11>=0.16")
    assert problems(changed, (), lock_for(changed)) == [
        f"starlette==1.10.0 is outside starlette>=99: {RELOCK}"
    ]


def test_a_dependency_missing_from_the_lock_is_caught() -> None:
    changed = small("starlette>=1.5.1", "h11>=0.16", "jinja2>=3.1.6")
    assert problems(changed, (), lock_for(changed)) == [f"jinja2 is not pinned: {RELOCK}"]


def test_a_pin_without_a_hash_is_caught() -> None:
    body = BODY.replace("h11==0.16.0 \\\n    --hash=sha256:0b3a\n", "h11==0.16.0\n")
    assert problems(SMALL, (), lock_for(SMALL, body)) == ["h11 has no hash"]


@pytest.mark.parametrize(
    "line", ["--find-links /opt/wheels", "--extra-index-url file:///opt/pypi/simple"]
)
def test_a_lock_naming_a_local_index_is_caught(line: str) -> None:
    assert problems(SMALL, (), line + "\n" + lock_for(SMALL)) == [
        "names an index, a URL or a local path: it must resolve from PyPI alone"
    ]
