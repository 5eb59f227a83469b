"""An app whose lifespan startup fails: ``STARTUP_MODE=raise`` raises, ``failed`` sends
``lifespan.startup.failed``. ``WITH_SHIM=1`` imports ``lifespan_state.auto`` first. It prints
whether the server gave it a lifespan state, which proves the shim was (or was not) in effect."""

from __future__ import annotations

import os
import sys
from typing import Any, Awaitable, Callable, Dict

if os.environ.get("WITH_SHIM"):
    import lifespan_state.auto  # noqa: F401


async def app(
    scope: Dict[str, Any],
    receive: Callable[[], Awaitable[Dict[str, Any]]],
    send: Callable[[Dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "lifespan":
        return
    await receive()
    print("lifespan state given:", isinstance(scope.get("state"), dict), file=sys.stderr, flush=True)
    if os.environ["STARTUP_MODE"] == "raise":
        raise RuntimeError("database unreachable: 7f3a-raised")
    await send({"type": "lifespan.startup.failed", "message": "database unreachable: 9c1e-failed"})
