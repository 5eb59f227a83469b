"""Starlette's part of the check kit (``lifespan-state check --harness testclient``): the probe behind
one ``TestClient`` for every run, each ``with`` block one run (the leak between a client's runs
needs that, docs/field.md). Runs in the harness arm's process only."""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager

__all__ = ["make", "open"]


def make(app: Any) -> Any:
    """The one client of every run; its ``websocket_connect`` is the WebSocket client of S6."""
    from starlette.testclient import TestClient

    return TestClient(app)


def open(client: Any, portal: Any, lifespan: bool) -> ContextManager[Any]:
    """One run: a ``with`` block of the client (runs the lifespan), or the client without one."""
    return client if lifespan else contextlib.nullcontext(client)
