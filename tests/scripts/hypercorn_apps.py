"""App variants only this repository's tests serve (``hypercorn_scenarios.py``, test_hypercorn).

* :func:`asgi2` — the probe as an ASGI 2 app (hypercorn < 0.14 accepts those).
* :func:`wsgi` — a WSGI app reporting its environ keys (hypercorn >= 0.14): must stay untouched.
* :func:`starlette` — a Starlette app whose lifespan yields state (Starlette >= 0.26 refuses to
  start on a server without lifespan state).

Served by import string with hypercorn's call syntax (``hypercorn_apps:wsgi()``), with this
directory on ``PYTHONPATH``. Importing the probe activates the shim when
``LIFESPAN_STATE_PROBE_SHIM=1``, inside the server's app loading, like a user's app module does.
"""

from __future__ import annotations

import json
import os
from typing import Any, AsyncIterator, Callable, Dict, Iterable, List

from lifespan_state.check._probe import app as probe

Json = Dict[str, Any]


class _ASGI2Instance:
    def __init__(self, scope: Json) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await probe(self.scope, receive, send)


def asgi2() -> Any:
    """The probe as an ASGI 2 application (a class: ``app(scope)`` then ``await instance(r, s)``)."""
    return _ASGI2Instance


def wsgi() -> Any:
    """A WSGI app answering the names of its environ keys (and no ``state`` anywhere)."""

    def application(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        from lifespan_state.check._probe import _state_app_count

        body = json.dumps({"environ_keys": sorted(environ), "pid": os.getpid(),
                           "state_apps": _state_app_count()}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return application


def starlette() -> Any:
    """A Starlette app whose lifespan yields ``{"pool": object, "started": [...]}``."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette  # type: ignore[import-not-found,unused-ignore]
    from starlette.requests import Request  # type: ignore[import-not-found,unused-ignore]
    from starlette.responses import JSONResponse  # type: ignore[import-not-found,unused-ignore]
    from starlette.routing import Route  # type: ignore[import-not-found,unused-ignore]

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Dict[str, Any]]:
        started: List[int] = [os.getpid()]
        yield {"pool": object(), "started": started}

    async def home(request: Request) -> JSONResponse:
        if "write" in request.query_params:
            request.state.written = request.query_params["write"]
        keys = sorted(vars(request.state)["_state"])
        return JSONResponse({"keys": keys, "pool_id": id(request.state.pool), "pid": os.getpid()})

    return Starlette(routes=[Route("/", home)], lifespan=lifespan)
