"""HTTP routes, grouped by audience: pages for people, ops endpoints for operators."""
