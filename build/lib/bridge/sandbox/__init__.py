"""An in-memory Intercom workspace served as an ASGI app: for the demo, tests and benchmarks."""

from bridge.sandbox.server import Faults, Sandbox, SeenRequest
from bridge.sandbox.workspace import Workspace

__all__ = ["Faults", "Sandbox", "SeenRequest", "Workspace"]
