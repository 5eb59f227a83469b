from __future__ import annotations

from litestar.testing.client.base import BaseTestClient


class AsyncTestClient(BaseTestClient):
    async def __aenter__(self) -> AsyncTestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None
