"""`/admin`: the operator's pages, server-rendered, behind `BRIDGE_ADMIN_TOKEN`.

One module per job: `session` (the signed cookie and its CSRF token), `auth` (who may come in:
a bearer header or the login form; off when the token is unset), `views` (rendering shared by
the pages), `overview` (the queue at a glance), `requests` (a request's story, replay, the
held SMS revocations), `people` (a person's history and the exports).
"""

from __future__ import annotations

from bridge.web.admin import auth, overview, people, requests

routes = [*auth.routes, *overview.routes, *requests.routes, *people.routes]
