"""A Starlette or FastAPI app with a lifespan that yields state, served by a real uvicorn.

``FRAMEWORK=starlette|fastapi`` picks the framework; ``WITH_SHIM=1`` imports
``lifespan_state.auto`` first, as a user's app module would. Each request reports what its
``request.state`` held, then writes a key of its own (the next request must not see it) and
appends to a list the lifespan owns (the next request must see that: copies are shallow).

No ``from __future__ import annotations``: FastAPI reads the endpoint's annotations at run time
(``request: Request`` is how it knows to pass the request).
"""

import os

if os.environ.get("WITH_SHIM") == "1":
    import lifespan_state.auto  # noqa: F401

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict


class Pool:
    pass


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[Dict[str, Any]]:
    yield {"pool": Pool(), "hits": []}


async def view(request: Any) -> Dict[str, Any]:
    await request.body()
    state = request.state
    seen = getattr(state, "mine", None)
    n = request.query_params.get("n")
    state.mine = n
    state.hits.append(n)
    return {"pool": id(state.pool), "seen": seen, "hits": list(state.hits)}


def _starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(await view(request))

    return Starlette(routes=[Route("/", endpoint)], lifespan=lifespan)


def _fastapi() -> Any:
    from fastapi import FastAPI, Request

    api = FastAPI(lifespan=lifespan)

    @api.get("/")  # type: ignore[untyped-decorator]
    async def endpoint(request: Request) -> Dict[str, Any]:
        return await view(request)

    return api


app = {"starlette": _starlette, "fastapi": _fastapi}[os.environ["FRAMEWORK"]]()
