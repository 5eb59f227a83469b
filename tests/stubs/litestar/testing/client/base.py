from __future__ import annotations

import os
from typing import Any

from litestar import Litestar

if os.environ.get("STUB_STATE") == "1":

    def _wrap_app_to_add_state(app: Any) -> Any:
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = {}
            await app(scope, receive, send)

        return wrapped


class BaseTestClient:
    def __init__(self, app: Any) -> None:
        if os.environ.get("STUB_STATE") == "1" and not isinstance(app, Litestar):
            app = _wrap_app_to_add_state(app)
        self.app = app
