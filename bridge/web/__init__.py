"""The web app: `app.create_app` assembles routes by audience (see `audiences`).

- `pages/`: people (unsubscribe and preference pages);
- `api/`: code on a marketer's site (JSON);
- `webhooks`: providers' servers;
- `ops`: probes and scrapers (/healthz, /readyz, /metrics);
- `middleware/`, `errors`, `error_pages`, `access_log`, `offload`, `server`: what they share.
"""
