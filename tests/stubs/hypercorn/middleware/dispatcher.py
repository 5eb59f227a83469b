"""``_DispatcherMiddleware.__call__``: the mounts' lifespans (the shim gives each a namespace)."""

from typing import Any, Dict


class _DispatcherMiddleware:
    def __init__(self, mounts: Dict[str, Any]) -> None:
        self.mounts = mounts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        for app in self.mounts.values():
            await app(scope, receive, send)
