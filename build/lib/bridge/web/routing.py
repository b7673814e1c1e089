"""One route per path, whatever its methods, so a 405 names every method the path takes.

Starlette answers a method a path does not take from the first route whose path matches, so
two `Route`s for one path (GET in one, POST in the other) make a PUT's 405 say
`Allow: GET, HEAD` and leave POST out. Declaring each path once, with a handler per method,
keeps `Allow` true.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


def route(path: str, *, name: str | None = None, **handlers: Handler) -> Route:
    """A route for `path` with a handler per method (`GET=show, POST=save`); HEAD runs GET."""
    if not handlers:
        raise ValueError("a route needs at least one method")
    table = {method.upper(): handler for method, handler in handlers.items()}
    if "GET" in table:
        table.setdefault("HEAD", table["GET"])

    async def dispatch(request: Request) -> Response:
        return await table[request.method](request)

    dispatch.__name__ = name or path
    return Route(path, dispatch, methods=list(table), name=name)
