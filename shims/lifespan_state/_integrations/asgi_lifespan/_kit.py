"""asgi-lifespan's part of the check kit (``lifespan-state check --harness asgi-lifespan``): the probe
behind a new ``LifespanManager`` per run, as tests use it, and ``httpx.ASGITransport`` (httpx2's
where it is installed). Runs in the harness arm's process (``lifespan_state.check._harness_checks``)
only."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any, AsyncIterator, ContextManager

from ...check._portal import blocking
from ...testing import http_client

__all__ = ["make", "open"]


def make(app: Any) -> Any:
    """The app itself: each run makes its own manager."""
    return app


def open(app: Any, portal: Any, lifespan: bool) -> ContextManager[Any]:
    """One run: the manager's lifespan (unless ``lifespan`` is False) and a client in front of it."""
    return blocking(portal, _client(app, lifespan))


@contextlib.asynccontextmanager
async def _client(app: Any, lifespan: bool) -> AsyncIterator[Any]:
    from asgi_lifespan import LifespanManager

    httpx = http_client()
    manager = LifespanManager(app)  # made on the loop: it detects its async library

    async def get(target: str) -> Any:
        # A client per request on ``manager.app``: a test can go on sending requests there after
        # the manager's block, and so does S13.
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://h") as client:
            return await client.get(target)

    async with manager if lifespan else contextlib.AsyncExitStack():
        yield SimpleNamespace(get=get)
