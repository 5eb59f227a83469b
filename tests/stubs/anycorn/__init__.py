"""Stub of anycorn for the offline unit tier: only what its integration touches
(lifespan_state/_integrations/anycorn/)."""

from typing import Any

from .run import worker_serve

__all__ = ["worker_serve"]

STUB_IMPORTS = ("anycorn.middleware.proxy_fix",)
STUB_HOOKS = (
    "anycorn.run.worker_serve",
    "anycorn.worker_serve",
    "anycorn.middleware.proxy_fix.ProxyFixMiddleware.__call__",
)


def stub_run(app: Any) -> Any:
    """What one run hands its servers: the app ``worker_serve`` was given (the package binding,
    as ``anycorn.serve`` calls it)."""
    return worker_serve(app, object())
