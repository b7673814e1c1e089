"""The web app: `app.create_app` assembles routes by audience (see `audiences`).

- `pages/`: people (the unsubscribe and preference pages);
- `api/`: code on a marketer's site (JSON);
- `webhooks`: providers' servers, email and (next) SMS alike: a new provider is a module in
  `bridge/providers/`, not a route;
- `ops`: probes and scrapers (/healthz, /readyz, /metrics);
- `middleware/`, `errors`, `error_pages`, `access_log`, `offload`, `server`: what they share.

A new audience (signup forms posted from other sites, an admin) is a package here beside
`pages/` and `api/`, and one line in `audiences.AREAS`.
"""
