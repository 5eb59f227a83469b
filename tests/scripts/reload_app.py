"""Served by ``uvicorn --reload`` (the test copies it and edits the copy to trigger reloads).

Each worker process has its own ``RUN`` id; every response says what the lifespan startup saw in
its state (it must start empty in every reloaded worker) and what the request's state holds.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional

import lifespan_state.auto  # noqa: F401

RUN = uuid.uuid4().hex
STARTUP: Dict[str, Optional[List[str]]] = {}


async def app(
    scope: Dict[str, Any],
    receive: Callable[[], Awaitable[Dict[str, Any]]],
    send: Callable[[Dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                STARTUP["keys"] = sorted(scope["state"]) if "state" in scope else None
                scope["state"]["run"] = RUN
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    state = scope.get("state", {})
    answer = {"run": RUN, "startup_keys": STARTUP.get("keys"), "state_run": state.get("run")}
    body = json.dumps(dict(answer, keys=sorted(state))).encode()
    length = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": length})
    await send({"type": "http.response.body", "body": body})
