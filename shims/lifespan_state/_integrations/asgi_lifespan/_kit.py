"""asgi-lifespan's part of the check kit (``lifespan-state check --harness asgi-lifespan``): the probe
behind a new ``LifespanManager`` per run, as tests use it, and ``httpx.ASGITransport``. Runs in the
harness arm's process (``lifespan_state.check._harness_checks``) only."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, ContextManager

from ...check._portal import blocking

__all__ = ["make", "open"]


def make(app: Any) -> Any:
    """The app itself: each run makes its own manager."""
    return app


def open(app: Any, portal: Any, lifespan: bool) -> ContextManager[Any]:
    """One run: the manager's lifespan (unless ``lifespan`` is False) and a client in front of it."""
    return blocking(portal, _client(app, lifespan))


@contextlib.asynccontextmanager
async def _client(app: Any, lifespan: bool) -> AsyncIterator[Any]:
    import httpx
    from asgi_lifespan import LifespanManager

    manager = LifespanManager(app)  # made on the loop: it detects its async library
    async with manager if lifespan else contextlib.AsyncExitStack(), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://h") as client:
        yield client
