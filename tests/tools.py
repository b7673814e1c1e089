"""Programs from Debian's packages that some tests run: skipped without them, required in CI."""

from __future__ import annotations

import os
import shutil

import pytest


def ci_tool(name: str, package: str) -> str:
    """The path of `name` on PATH; skips the test without it, fails it when CI is set.

    `.ci/run` installs `package` when `name` is missing, so in CI its absence is a failure.
    """
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            raise RuntimeError(f"{name} is missing: .ci/run installs Debian's {package}")
        pytest.skip(f"no {name} on PATH (Debian's {package} package)")
    return found
