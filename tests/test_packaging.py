"""What an installed (not editable) bridge carries: its pages, languages and keyword files."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE_DATA: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"][
    "setuptools"
]["package-data"]["bridge"]


def test_the_package_links_to_the_repositorys_templates() -> None:
    link = ROOT / "bridge" / "templates"
    assert link.is_symlink() and link.resolve() == (ROOT / "templates").resolve()


@pytest.mark.parametrize(
    "data",
    [
        *(ROOT / "templates").rglob("*"),
        *(ROOT / "bridge" / "locales").glob("*"),
        *(ROOT / "bridge" / "sms" / "words").glob("*"),
    ],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_every_data_file_is_package_data(data: Path) -> None:
    if data.is_dir():
        return
    relative = str(
        data.relative_to(ROOT / "templates" if "templates" in data.parts else ROOT / "bridge")
    )
    inside = f"templates/{relative}" if "templates" in data.parts else relative
    # setuptools' globs: a "*" does not cross a "/".
    assert any(
        fnmatch.fnmatch(inside, pattern) and inside.count("/") == pattern.count("/")
        for pattern in PACKAGE_DATA
    ), f"{inside} is not in [tool.setuptools.package-data]"
