"""``TestClient``: 0.26.0+ keeps one ``app_state`` dict (the shim's native probe reads
``__init__``) and hands it to its transport; ``with client:`` runs the lifespan."""

from __future__ import annotations

import os
from typing import Any, Optional


class _TestClientTransport:
    def __init__(self, app: Any, app_state: Optional[dict] = None) -> None:  # type: ignore[type-arg]
        self.app = app
        self.app_state = app_state


class TestClient:
    if os.environ.get("STUB_STATE") == "1":

        def __init__(self, app: Any) -> None:
            self.app = app
            self.app_state: dict = {}  # type: ignore[type-arg]
            self._transport = _TestClientTransport(app, app_state=self.app_state)

    else:

        def __init__(self, app: Any) -> None:
            self.app = app
            self._transport = _TestClientTransport(app)

    def __enter__(self) -> TestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
