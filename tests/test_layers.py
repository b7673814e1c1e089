"""Imports run one way: sources -> ledger -> worker -> Intercom, with the web and CLI on top.

Each part of `bridge` may import only the parts listed for it here, so a provider never
reaches into the web app and the worker never into a page. A new part (SMS, forms, admin)
takes its place in this table; an import against it fails here, naming the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "bridge"

# The parts of the pure base, which import nothing of ours above them.
BASE = {
    "clock",
    "consent",
    "deadlines",
    "logsafe",
    "log_context",
    "i18n",
    "identities",
    "links",
    "link_checks",
}
ALLOWED: dict[str, set[str]] = {
    **{part: BASE for part in BASE},
    "intercom": BASE,
    "settings": BASE | {"intercom"},  # the regions' base URLs are Intercom's facts
    "branding": BASE | {"settings"},
    "ledger": BASE,
    "metrics": BASE | {"ledger"},
    "forms": BASE | {"settings"},  # the bridge's own forms: settings, submissions, spam
    # Form tools (Typeform, Tally, ...) map their fields with the forms' own checks.
    "providers": BASE | {"settings", "forms", "sms"},
    "preferences": BASE | {"intercom", "ledger"},
    "worker": BASE | {"intercom", "ledger", "metrics", "settings"},
    "sandbox": BASE,
    "sms": BASE,  # pure: what inbound texts mean, read by the SMS providers
    # Logging's set-up names the Intercom client's endpoints; the web and the CLI apply it.
    "logging_setup": BASE | {"intercom"},
    # The one wiring: everything below the web app (the sandbox's seeded ids guard the
    # demo's ledger from real use).
    "services": BASE
    | {"intercom", "ledger", "metrics", "settings", "branding", "providers", "forms"}
    | {"preferences", "worker", "sandbox", "sms"},
    "web": BASE
    | {"intercom", "ledger", "metrics", "settings", "branding", "providers", "forms"}
    | {"preferences", "services", "sms", "logging_setup"},
    "cli": BASE
    | {"intercom", "ledger", "metrics", "settings", "branding", "providers", "forms"}
    | {"preferences", "worker", "sandbox", "services", "web", "sms", "logging_setup"},
}


def _part(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return relative.parts[0].removesuffix(".py")


def _imported_parts(path: Path) -> list[tuple[int, str]]:
    """(line, part) for every `bridge.<part>` this file imports, wherever the import is."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            head, _, rest = name.partition(".")
            if head == "bridge" and rest:
                found.append((node.lineno, rest.split(".")[0]))
    return found


MODULES = sorted(p for p in ROOT.rglob("*.py") if _part(p) != "__init__")


def test_every_part_has_a_place_in_the_table() -> None:
    assert {_part(p) for p in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_one_way(path: Path) -> None:
    part = _part(path)
    wrong = [
        f"line {line}: bridge.{other}"
        for line, other in _imported_parts(path)
        if other != part and other not in ALLOWED[part]
    ]
    assert not wrong, f"{path.relative_to(ROOT)} ({part}) may not import " + ", ".join(wrong)
