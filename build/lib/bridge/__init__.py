"""Intercom consent bridge: keeps Intercom subscription types true to what people asked for."""
