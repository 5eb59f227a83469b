"""Stub of hypercorn for the offline unit tier: only what its integration touches
(lifespan_state/_integrations/hypercorn/)."""

from typing import Any

STUB_IMPORTS = (
    "hypercorn.asyncio",
    "hypercorn.trio",
    "hypercorn.middleware.proxy_fix",
    "hypercorn.middleware.dispatcher",
)
STUB_HOOKS = (
    "hypercorn.asyncio.run.worker_serve",
    "hypercorn.asyncio.worker_serve",
    "hypercorn.trio.run.worker_serve",
    "hypercorn.trio.worker_serve",
    "hypercorn.middleware.proxy_fix.ProxyFixMiddleware.__call__",
    "hypercorn.middleware.dispatcher._DispatcherMiddleware.__call__",
)


def stub_run(app: Any) -> Any:
    """What one asyncio worker run hands its servers: the app ``worker_serve`` was given."""
    from hypercorn.asyncio import worker_serve

    return worker_serve(app, object())
