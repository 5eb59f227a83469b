"""The probe as app variants hypercorn serves: behind its middlewares, ASGI 2, WSGI, a framework.

Served by this repository's tests and patch proofs only (``hypercorn_scenarios.py``,
test_hypercorn, ``tools.patches``), by import string with hypercorn's call syntax
(``hypercorn_apps:proxy_fix()``) and this directory on ``PYTHONPATH``; a factory imports
hypercorn's middleware when the server process calls it, inside a server that is already loaded.

* :func:`proxy_fix` — the probe behind ``ProxyFixMiddleware`` (0.16+), with a ``threading.Lock``
  put into the lifespan state at startup: the lock cannot be deep-copied, so a server or shim that
  deep-copies the state fails every request.
* :func:`dispatcher` — ``DispatcherMiddleware`` mounting the probe at ``""`` (every path the checks
  use) and :func:`mount_app` at ``/other``: each mount must get its own lifespan namespace.
* :func:`asgi2` — the probe as an ASGI 2 app (hypercorn < 0.14 accepts those).
* :func:`wsgi` — a WSGI app reporting its environ keys (hypercorn >= 0.14): must stay untouched.
* :func:`starlette` — a Starlette app whose lifespan yields state (Starlette >= 0.26 refuses to
  start on a server without lifespan state).

Importing the probe activates the shim when ``LIFESPAN_STATE_PROBE_SHIM=1``, inside the server's
app loading, like a user's app module does.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, AsyncIterator, Callable, Dict, Iterable, List

from lifespan_state.check._probe import app as probe

Json = Dict[str, Any]


def _with_lock(app: Any) -> Any:
    """``app`` whose lifespan state gets a ``lock`` right after the app's own startup."""

    async def locked(scope: Json, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def send_with_lock(message: Json) -> None:
            state = scope.get("state")
            if message["type"] == "lifespan.startup.complete" and isinstance(state, dict):
                state["lock"] = threading.Lock()
            await send(message)

        await app(scope, receive, send_with_lock)

    return locked


async def _lock_view(scope: Json, receive: Any, send: Any) -> bool:
    """Answer ``/lock`` with whether the request's state holds a usable lock (else False)."""
    if scope["type"] != "http" or scope.get("path") != "/lock":
        return False
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    state = scope.get("state")
    lock = state.get("lock") if isinstance(state, dict) else None
    usable = False
    if lock is not None:
        with lock:
            usable = True
    body = json.dumps({
        "has_lock": lock is not None,
        "lock_usable": usable,
        "lock_id": id(lock) if lock is not None else None,
        "state_type": type(state).__name__,
        "client": list(scope.get("client") or []),
        "scheme": scope.get("scheme"),
    }).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
    return True


def proxy_fix() -> Any:
    """The probe (plus ``/lock``) behind ProxyFixMiddleware, a lock in the lifespan state."""
    from hypercorn.middleware import ProxyFixMiddleware

    async def inner(scope: Json, receive: Any, send: Any) -> None:
        if not await _lock_view(scope, receive, send):
            await probe(scope, receive, send)

    return _with_lock(ProxyFixMiddleware(inner, mode="legacy", trusted_hops=1))


async def mount_app(scope: Json, receive: Any, send: Any) -> None:
    """A second mounted app: stores ``other-only`` at startup, reports its state per request."""
    if scope["type"] == "lifespan":
        state = scope.get("state")
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if isinstance(state, dict):
                    state["other-only"] = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    state = scope.get("state")
    body = json.dumps({"mount": "other", "keys": sorted(state) if isinstance(state, dict) else None}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def dispatcher(worker: str = "asyncio") -> Any:
    """DispatcherMiddleware: :func:`mount_app` at ``/other``, the probe at ``""`` (the rest).

    ``worker`` picks hypercorn's asyncio or trio flavour of the middleware (its lifespan
    handling runs on that library).
    """
    from hypercorn.middleware.dispatcher import AsyncioDispatcherMiddleware, TrioDispatcherMiddleware

    middleware = TrioDispatcherMiddleware if worker == "trio" else AsyncioDispatcherMiddleware
    # Insertion order is hypercorn's matching order: the specific prefix first.
    return middleware({"/other": mount_app, "": probe})


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
