"""A harness's async client, driven from the engine's threads through an anyio blocking portal."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any, AsyncIterator, Iterator

__all__ = ["blocking", "entered"]


@contextlib.contextmanager
def blocking(portal: Any, client: Any) -> Iterator[Any]:
    """``client`` (an async context manager yielding an httpx-like client) as a blocking one
    whose ``get(target)`` any thread may call."""
    # Entered and left in one task on the portal's loop (harnesses hold task groups).
    with portal.wrap_async_context_manager(client) as entered:
        yield SimpleNamespace(get=lambda target: portal.call(entered.get, target))


@contextlib.asynccontextmanager
async def entered(client: Any, lifespan: bool) -> AsyncIterator[Any]:
    """``client`` inside its own ``async with`` (a harness whose block is its lifespan run), or as
    it is when ``lifespan`` is False (requests with no lifespan running)."""
    async with client if lifespan else contextlib.AsyncExitStack():
        yield client
