"""The worker: claims recorded requests (`loop`) and applies each one to Intercom (`applier`)."""

from .loop import Worker

__all__ = ["Worker"]
