"""``LifespanProtocol``: 1.0.0+ keeps ``self.state`` and empties it before queueing
``lifespan.shutdown`` (what the shim's probes read)."""

from __future__ import annotations

import asyncio
import os
from typing import Any


class LifespanProtocol:
    if os.environ.get("STUB_STATE") == "1":

        def __init__(self, callback: Any) -> None:
            self.callback = callback
            self.event_queue: asyncio.Queue[Any] = asyncio.Queue()
            self.state: dict = {}  # type: ignore[type-arg]

        async def shutdown(self) -> None:
            self.state.clear()
            await self.event_queue.put({"type": "lifespan.shutdown"})

    else:

        def __init__(self, callback: Any) -> None:
            self.callback = callback
            self.event_queue = asyncio.Queue()

        async def shutdown(self) -> None:
            await self.event_queue.put({"type": "lifespan.shutdown"})
