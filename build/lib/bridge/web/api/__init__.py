"""The JSON API under /api/v1 for code on a marketer's site: `routes` and its `openapi`."""
