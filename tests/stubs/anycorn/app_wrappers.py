"""WSGI apps arrive as ``WSGIWrapper`` (the shim leaves them alone)."""

from typing import Any


class WSGIWrapper:
    def __init__(self, app: Any, max_body_size: int) -> None:
        self.app = app
