"""A Starlette app the field tests serve with gunicorn, granian and anycorn (``field_app:app``).

Environment: ``FIELD_SHIM=1`` activates the shim the way users do (``import lifespan_state.auto``
at the top of the app module, i.e. inside the server's own app loading, in every worker);
``FIELD_SHIM=middleware`` activates nothing and serves ``app = LifespanStateMiddleware(app)``;
``FIELD_REPORT=<path>`` makes the lifespan append one JSON line per run at ``lifespan.shutdown``
with the keys its state dict holds then (S10) and at startup whether it started empty (S9).

Routes (each answers :func:`view`): ``/`` reads; ``/write?key=K`` writes ``K`` into
``request.state``; ``/late`` has the lifespan's own dict gain the key ``late`` (live copies); ``/status`` adds
``lifespan_state.status()[FIELD_SERVER]`` of the worker that answers;
``/ws`` is a WebSocket that answers ``write K`` with a view. A view names the keys the request
sees, whether its ``pool`` is the lifespan's very object, and the worker's pid.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List, Optional

if os.environ.get("FIELD_SHIM") == "1":
    import lifespan_state.auto  # noqa: F401

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


class Pool:
    """Stands for a connection pool: requests must get this very object, never a copy."""


#: This process's lifespan runs: the pool each one yielded and the server's lifespan dict.
POOLS: List[Pool] = []
LIFESPAN_DICTS: List[Dict[str, Any]] = []


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[Dict[str, Any]]:
    pool = Pool()
    POOLS.append(pool)
    yield {"pool": pool}


def shim_status() -> Optional[Dict[str, Any]]:
    """``lifespan_state.status()`` for ``FIELD_SERVER`` in this process (None: not imported)."""
    module = sys.modules.get("lifespan_state")
    server = os.environ.get("FIELD_SERVER", "")
    if module is None or not server:
        return None
    return dict(module.status()[server].as_dict())


def view(connection: HTTPConnection) -> Dict[str, Any]:
    state = connection.scope.get("state")
    keys = sorted(state) if isinstance(state, dict) else None
    return {
        "keys": keys,
        "own_pool": bool(POOLS) and getattr(connection.state, "pool", None) is POOLS[-1],
        "is_lifespan_dict": any(state is d for d in LIFESPAN_DICTS),
        "pid": os.getpid(),
    }


async def read(request: Request) -> JSONResponse:
    return JSONResponse(view(request))


async def write(request: Request) -> JSONResponse:
    setattr(request.state, request.query_params["key"], True)
    return JSONResponse(view(request))


async def late(request: Request) -> JSONResponse:
    LIFESPAN_DICTS[-1]["late"] = True
    return JSONResponse(view(request))


async def status(request: Request) -> JSONResponse:
    return JSONResponse(dict(view(request), shim=shim_status()))


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(view(websocket))
    try:
        while True:
            text = await websocket.receive_text()
            if text.startswith("write "):
                setattr(websocket.state, text.split()[1], True)
            await websocket.send_json(view(websocket))
    except WebSocketDisconnect:
        pass


starlette_app = Starlette(
    routes=[
        Route("/", read),
        Route("/write", write),
        Route("/late", late),
        Route("/status", status),
        WebSocketRoute("/ws", ws),
    ],
    lifespan=lifespan,
)


def _report(record: Dict[str, Any]) -> None:
    path = os.environ.get("FIELD_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(dict(record, pid=os.getpid())) + "\n")


async def reporting_app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
    """The Starlette app, with a lifespan that reports what its state dict holds (S9, S10)."""
    if scope["type"] != "lifespan":
        await starlette_app(scope, receive, send)
        return
    state = scope.get("state")
    if isinstance(state, dict):
        LIFESPAN_DICTS.append(state)

    async def watched_receive() -> Any:
        message = await receive()
        if isinstance(state, dict):
            if message["type"] == "lifespan.startup":
                _report({"event": "startup", "keys": sorted(state), "shim": shim_status()})
            elif message["type"] == "lifespan.shutdown":
                _report({"event": "shutdown", "keys": sorted(state)})
        return message

    await starlette_app(scope, watched_receive, send)


app: Any = reporting_app
if os.environ.get("FIELD_SHIM") == "middleware":
    from lifespan_state import LifespanStateMiddleware

    app = LifespanStateMiddleware(reporting_app)  # outermost, nothing activated
