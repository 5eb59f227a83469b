"""``ASGIProtocol``: what each request scope gets; the shim's decision reads this code.

Before 27.0.0 a scope gets the worker's dict itself (``self.worker.state``), from 27.0.0 on a copy
(``self.worker.state.copy()``). The stub behaves as the release its metadata names.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Dict

try:
    _COPIES = int(metadata.version("gunicorn").partition(".")[0]) >= 27
except (metadata.PackageNotFoundError, ValueError):
    _COPIES = False


class ASGIProtocol:
    def __init__(self, worker: Any) -> None:
        self.worker = worker

    if _COPIES:

        def _build_http_scope(self) -> Dict[str, Any]:
            return {"type": "http", "state": self.worker.state.copy()}

    else:

        def _build_http_scope(self) -> Dict[str, Any]:
            return {"type": "http", "state": self.worker.state}
