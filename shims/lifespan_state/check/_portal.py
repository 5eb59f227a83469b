"""A harness's async client, driven from the engine's threads through an anyio blocking portal."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any, Iterator

__all__ = ["blocking"]


@contextlib.contextmanager
def blocking(portal: Any, client: Any) -> Iterator[Any]:
    """``client`` (an async context manager yielding an httpx-like client) as a blocking one
    whose ``get(target)`` any thread may call."""
    # Entered and left in one task on the portal's loop (harnesses hold task groups).
    with portal.wrap_async_context_manager(client) as entered:
        yield SimpleNamespace(get=lambda target: portal.call(entered.get, target))
