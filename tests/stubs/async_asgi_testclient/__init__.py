"""Stub of async-asgi-testclient for the offline unit tier: only what its integration touches
(lifespan_state/_integrations/async_asgi_testclient/). No release puts state in its lifespan
scope; with ``STUB_STATE=1`` this one does (what the ``has_state`` probe looks for)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["TestClient"]

STUB_IMPORTS = ()
STUB_HOOKS = (
    "async_asgi_testclient.TestClient.__init__",
    "async_asgi_testclient.TestClient.__aenter__",
    "async_asgi_testclient.TestClient.__aexit__",
)


class TestClient:
    def __init__(self, application: Any) -> None:
        self.application = application

    if os.environ.get("STUB_STATE") == "1":

        async def __aenter__(self) -> TestClient:
            self.scope = {"type": "lifespan", "state": {}}
            return self

    else:

        async def __aenter__(self) -> TestClient:
            self.scope = {"type": "lifespan"}
            return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def stub_run(app: Any) -> Any:
    """What the client calls for every scope: its ``application``."""
    return TestClient(app).application
