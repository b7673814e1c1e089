"""The JSON API under /api/v1: preferences for marketers' pages, links in bulk for senders."""
