"""A Starlette app whose lifespan yields state: each worker reports its pid and its own counts.

Served as ``app:app`` by tests/integration/test_launch.py in real multi-worker servers (Starlette refuses such
a lifespan on a server without lifespan state). ``hits`` is a list the lifespan owns (a shared
value: shallow copies see it), ``mine`` a key of one request only (the next must not see it).
"""

import os
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[Dict[str, Any]]:
    yield {"pid": os.getpid(), "hits": []}


async def home(request: Request) -> JSONResponse:
    request.state.hits.append(1)  # a shared value: shallow copies see it
    saw_other = hasattr(request.state, "mine")
    request.state.mine = True  # a key of this request only
    body = {"pid": os.getpid(), "state_pid": request.state.pid, "hits": len(request.state.hits)}
    return JSONResponse(dict(body, saw_other_request=saw_other))


app = Starlette(routes=[Route("/", home)], lifespan=lifespan)
