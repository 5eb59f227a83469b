"""``LifespanManager(app)``: ``self.app`` is what tests send requests to; 2.1.0 adds
``state_middleware`` (the shim's native probe) and keeps the run's dict as ``self._state``."""

from __future__ import annotations

import os
from typing import Any

if os.environ.get("STUB_STATE") == "1":

    def state_middleware(app: Any, state: Any) -> Any:
        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = state
            await app(scope, receive, send)

        return with_state

    class LifespanManager:
        def __init__(self, app: Any) -> None:
            self._state: dict = {}  # type: ignore[type-arg]
            self.app = state_middleware(app, self._state)

        async def startup(self) -> None: ...

        async def shutdown(self) -> None: ...

else:

    class LifespanManager:  # type: ignore[no-redef]
        def __init__(self, app: Any) -> None:
            self.app = app

        async def startup(self) -> None: ...

        async def shutdown(self) -> None: ...
