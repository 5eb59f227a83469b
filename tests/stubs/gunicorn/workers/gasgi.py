"""``ASGIWorker``: 24.0.0+ keeps the lifespan dict as ``self.state`` (the shim's native probe)."""

from __future__ import annotations

import os
from typing import Any


class ASGIWorker:
    if os.environ.get("STUB_STATE") == "1":

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.asgi: Any = None
            self.state: dict = {}  # type: ignore[type-arg]

    else:

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.asgi = None

    def run(self) -> None:
        """Where gunicorn serves ``self.asgi``; the stub serves nothing."""
