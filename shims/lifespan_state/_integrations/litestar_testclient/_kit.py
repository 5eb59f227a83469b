"""Litestar's part of the check kit (``lifespan-state check --harness litestar`` and
``litestar-async``): the probe (a raw ASGI app, not a Litestar one) behind one ``TestClient`` or
``AsyncTestClient`` for every run, each ``with`` / ``async with`` block one run, as a test module
sharing one client does. Runs in the harness arm's process only."""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager, Iterator

from ...check._portal import blocking, entered
from ...check._transports import NotApplicable

__all__ = ["make", "make_async", "open", "open_async"]


def make(app: Any) -> Any:
    """The one ``TestClient`` of every run; its ``websocket_connect`` is the WebSocket client of S6."""
    from litestar.testing import TestClient

    return TestClient(app)


def open(client: Any, portal: Any, lifespan: bool) -> ContextManager[Any]:
    """One run: a ``with`` block of the client (runs the lifespan), or the client without one."""
    return client if lifespan else contextlib.nullcontext(client)


def make_async(app: Any) -> Any:
    """The one ``AsyncTestClient`` of every run."""
    from litestar.testing import AsyncTestClient

    return AsyncTestClient(app)


def open_async(client: Any, portal: Any, lifespan: bool) -> ContextManager[Any]:
    """One run: an ``async with`` block of the client (or none), driven through the kit's portal."""
    return _run_async(client, portal, lifespan)


@contextlib.contextmanager
def _run_async(client: Any, portal: Any, lifespan: bool) -> Iterator[Any]:
    def websocket_connect(path: str) -> Any:
        if not hasattr(client, "websocket_connect"):  # an older AsyncTestClient (2.3) has none
            raise NotApplicable("this release's AsyncTestClient has no WebSocket client")
        # A coroutine; the session it answers is a blocking one.
        return portal.call(client.websocket_connect, path)

    with blocking(portal, entered(client, lifespan)) as run:
        run.websocket_connect = websocket_connect
        yield run
