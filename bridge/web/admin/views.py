"""What every admin page shares: the operator's language, the CSRF token, how times read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from bridge.ledger.export import iso
from bridge.logsafe import masked
from bridge.web.pages.common import choose_language, render

if TYPE_CHECKING:
    from bridge.web.admin.auth import Operator

# The admin is never framed, cached, indexed, nor sends a referrer (see security_headers).
ADMIN_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}


def duration(seconds: float | None) -> str:
    """A span of time in its two largest units (`2 d 3 h`, `4 min 5 s`); `-` for none."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    left = int(abs(seconds))
    units = [("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)]
    parts: list[str] = []
    for name, size in units:
        if left >= size or (name == "s" and not parts):
            parts.append(f"{left // size} {name}")
            left %= size
        if len(parts) == 2:
            break
    return sign + " ".join(parts)


def page(
    request: Request,
    template: str,
    operator: Operator | None,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    """An admin page in the operator's language (Accept-Language, `?lang=`), not cached."""
    language = choose_language(request, None)
    return render(
        request,
        template,
        language,
        {
            "csrf": "" if operator is None else operator.csrf,
            "signed_in": operator is not None and operator.session is not None,
            "iso": iso,
            "masked": masked,
            "duration": duration,
            **context,
        },
        status_code=status_code,
        headers=ADMIN_HEADERS,
    )
