"""pytest plugin (entry point ``pytest11``): the ``asgi_client`` fixture.

Loaded by pytest in every session where lifespan-state-shim is installed, so it imports nothing
but pytest: httpx and anyio are imported when a test asks for ``asgi_client``, and the shim is
never activated by this module. Define the app under test as the ``asgi_app`` fixture::

    @pytest.fixture
    def asgi_app():
        return app

    @pytest.mark.anyio
    async def test_items(asgi_client):
        response = await asgi_client.get("/items")

``asgi_client`` is an async fixture: run it with anyio's pytest plugin (``@pytest.mark.anyio``,
asyncio and trio) or pytest-asyncio. Each test gets its own lifespan run
(``lifespan_state.testing.lifespan_client``), which starts empty.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest

__all__ = ["asgi_app", "asgi_client"]


@pytest.fixture
def asgi_app() -> Any:
    """The application ``asgi_client`` runs: override this fixture with your own."""
    raise pytest.UsageError(
        "the asgi_client fixture needs the app under test: define a fixture named `asgi_app` "
        "that returns it (in the test module or a conftest.py)"
    )


@pytest.fixture
async def asgi_client(asgi_app: Any) -> AsyncIterator[Any]:
    """An ``httpx.AsyncClient`` for ``asgi_app``, inside one run of its lifespan."""
    from .testing import lifespan_client

    async with lifespan_client(asgi_app) as client:
        yield client
