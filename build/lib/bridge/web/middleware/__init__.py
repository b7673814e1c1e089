"""ASGI middleware every request passes: the Host check, body limits, security headers."""
