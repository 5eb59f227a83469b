from litestar.testing.client.async_client import AsyncTestClient
from litestar.testing.client.sync_client import TestClient

__all__ = ["AsyncTestClient", "TestClient"]
