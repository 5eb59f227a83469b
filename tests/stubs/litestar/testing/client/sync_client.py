from __future__ import annotations

from litestar.testing.client.base import BaseTestClient


class TestClient(BaseTestClient):
    def __enter__(self) -> TestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
