"""``ProxyFixMiddleware.__call__`` deep-copies the scope (0.17 - 0.19; the shim makes it shallow)."""

from copy import deepcopy
from typing import Any


class ProxyFixMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(deepcopy(scope), receive, send)
