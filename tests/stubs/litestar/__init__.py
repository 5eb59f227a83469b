"""Stub of Litestar for the offline unit tier: only the test clients its integration touches
(lifespan_state/_integrations/litestar_testclient/), loaded on ``import litestar.testing``.
With ``STUB_STATE=1`` the client gives a non-Litestar app's scopes a fresh ``{}`` (2.4.0+:
``_wrap_app_to_add_state``, what the ``has_state`` probe looks for)."""

from __future__ import annotations

STUB_IMPORTS = ("litestar.testing",)
STUB_HOOKS = (
    "litestar.testing.client.base.BaseTestClient.__init__",
    "litestar.testing.client.sync_client.TestClient.__enter__",
    "litestar.testing.client.sync_client.TestClient.__exit__",
    "litestar.testing.client.async_client.AsyncTestClient.__aenter__",
    "litestar.testing.client.async_client.AsyncTestClient.__aexit__",
)


class Litestar:
    """A Litestar application (left alone by the shim)."""


def stub_run(app: object) -> object:
    """What the client calls for every scope: its ``app``."""
    from litestar.testing import TestClient

    return TestClient(app).app
