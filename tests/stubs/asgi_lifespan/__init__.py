"""Stub of asgi-lifespan for the offline unit tier: only what its integration touches
(lifespan_state/_integrations/asgi_lifespan/)."""

from typing import Any

from ._manager import LifespanManager

__all__ = ["LifespanManager"]

STUB_IMPORTS = ()
STUB_HOOKS = (
    "asgi_lifespan._manager.LifespanManager.__init__",
    "asgi_lifespan._manager.LifespanManager.startup",
    "asgi_lifespan._manager.LifespanManager.shutdown",
)


def stub_run(app: Any) -> Any:
    """What a test hands httpx: the manager's ``app``."""
    return LifespanManager(app).app
