"""async-asgi-testclient's part of the check kit (``lifespan-state check --harness
async-asgi-testclient``): the probe behind a new ``TestClient`` per run, each ``async with`` block one
run, driven through the kit's blocking portal. Runs in the harness arm's process only."""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager, Iterator

from ...check._portal import blocking, entered

__all__ = ["make", "open"]


def make(app: Any) -> Any:
    """The app itself: each run makes its own client (a client's second ``async with`` reads the first
    run's end from its lifespan queue: async-asgi-testclient's own limit)."""
    return app


def open(app: Any, portal: Any, lifespan: bool) -> ContextManager[Any]:
    """One run: ``async with TestClient(app)`` (unless ``lifespan`` is False); its client has the
    client's WebSocket, made blocking."""
    return _run(app, portal, lifespan)


@contextlib.contextmanager
def _run(app: Any, portal: Any, lifespan: bool) -> Iterator[Any]:
    client = portal.call(_new, app)  # made on the portal's loop, where it runs
    with blocking(portal, entered(client, lifespan)) as run:
        run.websocket_connect = lambda path: _BlockingWebSocket(portal, client.websocket_connect(path))
        yield run


async def _new(app: Any) -> Any:
    from async_asgi_testclient import TestClient

    return TestClient(app)


class _BlockingWebSocket:
    """An async-asgi-testclient ``WebSocketSession`` as the kit's blocking WebSocket
    (``with``, ``send_text``, ``receive_json``)."""

    def __init__(self, portal: Any, session: Any) -> None:
        self._portal, self._session = portal, session
        self._entered = portal.wrap_async_context_manager(session)

    def __enter__(self) -> _BlockingWebSocket:
        self._entered.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._entered.__exit__(*exc)

    def send_text(self, text: str) -> None:
        self._portal.call(self._session.send_text, text)

    def receive_json(self) -> Any:
        return self._portal.call(self._session.receive_json)
