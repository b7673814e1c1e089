#!/usr/bin/env python3
"""Regenerate the hashed lock files from pyproject.toml's dependency lists.

    python3 scripts/lock.py

writes requirements/test.txt (runtime and the test extra: CI and developers) and
requirements/deploy.txt (runtime only: deployments), every pin with its PyPI hashes, for
every platform and every Python that requires-python admits. Run it after changing a
dependency in pyproject.toml, or to take newer releases; tests/test_locks.py fails until
the locks match pyproject.toml again.

The lock tool, uv, is installed at a pinned version into a throwaway virtualenv, never
into the project. It resolves against PyPI alone and ignores pip's and uv's configuration
files, so a machine's local indexes or wheel folders never reach a lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV_VERSION = "0.13.9"
# The hashes must be those of the files PyPI serves, whatever indexes this machine has.
INDEX_URL = "https://pypi.org/simple"
# The test lock is compiled first and constrains the deploy lock, so that deployments run
# the very versions CI tested.
LOCKS: dict[str, tuple[str, ...]] = {"test.txt": ("test",), "deploy.txt": ()}
FINGERPRINT_PREFIX = "# inputs-sha256: "


def dependency_inputs(pyproject: dict[str, object], extras: tuple[str, ...]) -> dict[str, object]:
    """What a lock is compiled from: requires-python and the requirement lists it includes."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    optional = project.get("optional-dependencies", {})
    return {
        "requires-python": project.get("requires-python", ""),
        "dependencies": _normalised(project.get("dependencies", [])),
        "extras": {extra: _normalised(optional[extra]) for extra in extras},
    }


def fingerprint(inputs: dict[str, object]) -> str:
    """A hash of the inputs: comments and the order of requirements do not change it."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _normalised(requirements: list[str]) -> list[str]:
    return sorted("".join(requirement.split()) for requirement in requirements)


def header(name: str, extras: tuple[str, ...], inputs: dict[str, object]) -> str:
    purpose = (
        "runtime and test dependencies, for CI and developers"
        if extras
        else "runtime dependencies, for deployments"
    )
    install = (
        f"pip install --require-hashes -r requirements/{name} && pip install --no-deps -e ."
        if extras
        else f"pip install --require-hashes -r requirements/{name} && pip install --no-deps ."
    )
    return (
        f"# Hashed lock of the {purpose}. Do not edit by hand:\n"
        "# regenerate it with `python3 scripts/lock.py` after changing pyproject.toml.\n"
        f"# Install: {install}\n"
        f"# Compiled by uv {UV_VERSION} from pyproject.toml for every platform, Python "
        f"{inputs['requires-python']}.\n"
        f"{FINGERPRINT_PREFIX}{fingerprint(inputs)}\n"
    )


def install_uv(directory: Path) -> Path:
    venv.create(directory, with_pip=True)
    python = directory / "bin" / "python"
    # A fixed command line: the pinned tool into the throwaway environment.
    subprocess.run(  # noqa: S603
        [python, "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"], check=True
    )
    return directory / "bin" / "uv"


def compile_lock(uv: Path, extras: tuple[str, ...], constraints: Path | None) -> str:
    command: list[str | Path] = [
        uv, "pip", "compile", "pyproject.toml",
        "--no-config", "--index-url", INDEX_URL,
        "--universal", "--generate-hashes", "--no-header", "--quiet",
    ]  # fmt: skip
    for extra in extras:
        command += ["--extra", extra]
    if constraints is not None:
        command += ["--constraint", constraints]
    # Only the environment variables uv reads could point it elsewhere; drop them.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UV_")}
    result = subprocess.run(  # noqa: S603
        command, check=True, cwd=ROOT, env=environment, capture_output=True, text=True
    )
    return result.stdout


def main() -> int:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (ROOT / "requirements").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        uv = install_uv(Path(scratch))
        constraints: Path | None = None
        for name, extras in LOCKS.items():
            path = ROOT / "requirements" / name
            inputs = dependency_inputs(pyproject, extras)
            path.write_text(header(name, extras, inputs) + compile_lock(uv, extras, constraints))
            print(f"wrote {path.relative_to(ROOT)}")
            if constraints is None:
                constraints = path.relative_to(ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
