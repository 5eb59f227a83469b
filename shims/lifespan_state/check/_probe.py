"""The probe application: a dependency-free ASGI 3 app that reports what a server hands it.

Servers load it as ``lifespan_state.check._probe:app``. Environment variables set by the runner:

* ``LIFESPAN_STATE_PROBE_SHIM=1``: ``import lifespan_state.auto`` at import time, i.e. inside the
  server's own app loading (``Config.load()``), in every worker process — the way users activate.
  ``=middleware``: no activation; ``app`` is the probe wrapped by ``LifespanStateMiddleware`` (the
  kit's middleware arm), as a user's app module does it.
* ``LIFESPAN_STATE_PROBE_REPORT=<path>``: at ``lifespan.shutdown``, write what the lifespan saw
  there (S10) to this file as JSON (one JSON line appended per lifespan run).
* ``LIFESPAN_STATE_PROBE_LIFESPAN=raise``: raise on the lifespan scope (S8).

What it stores and answers: docs/CONFORMANCE.md ("The probe"). Every HTTP request reads its whole
body (a server may close a keep-alive connection whose app never awaited ``receive()``);
``status=1`` adds ``lifespan_state.status()`` and a count of live StateApp objects (S12),
``read=K`` what reading the key answers (S13); a WebSocket gets the view as its first message and
answers each ``write K`` with a new one. It works under asyncio and trio (a server's trio worker)
without importing either up front.
"""

from __future__ import annotations

import contextvars
import gc
import json
import os
import secrets
import sys
from typing import Any, Awaitable, Callable, Dict, List, Optional
from urllib.parse import parse_qs

if os.environ.get("LIFESPAN_STATE_PROBE_SHIM") == "1":
    # Activation inside the server's app loading, exactly as a user's app module does it.
    import lifespan_state.auto  # noqa: F401

__all__ = ["app"]

Message = Dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: This import of the probe: with the pid, it tells worker processes apart (a worker forked after
#: the import shares the token, never the pid; a reused pid gets a new token).
_TOKEN = secrets.token_hex(8)
#: One record per lifespan run in this process (run number -> what the lifespan saw).
_RUNS: Dict[int, Dict[str, Any]] = {}
#: run number -> the lifespan's dict itself (S3: "the request's state is not the lifespan dict").
_DICTS: Dict[int, Dict[str, Any]] = {}
#: run number -> callable that wakes that run's background task (S7).
_WAKERS: Dict[int, Callable[[], None]] = {}


def _async_library() -> Any:
    """The running event loop's library: asyncio, or trio (a server's trio worker)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        import trio

        return trio
    return asyncio


def _start_late_writer(run: int, state: Dict[str, Any]) -> None:
    """Start a background task that adds ``state["late"]`` once woken (``_WAKERS``)."""
    library = _async_library()
    event = library.Event()

    async def writer() -> None:
        await event.wait()
        state["late"] = f"added-later-{run}"

    if library.__name__ == "trio":
        library.lowlevel.spawn_system_task(writer)
    else:
        # Keep a reference: the loop holds tasks weakly.
        _RUNS[run]["_task"] = library.get_running_loop().create_task(writer())
    _WAKERS[run] = event.set


def _public(record: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


async def _lifespan(scope: Dict[str, Any], receive: Receive, send: Send) -> None:
    if os.environ.get("LIFESPAN_STATE_PROBE_LIFESPAN") == "raise":
        raise RuntimeError("probe: this app raises on the lifespan scope (as configured)")
    state = scope.get("state")
    run = len(_RUNS) + 1
    record: Dict[str, Any] = {
        "run": run,
        "pid": os.getpid(),
        "token": _TOKEN,
        "has_state": "state" in scope,
        "state_type": type(state).__name__,
        "empty_at_startup": isinstance(state, dict) and not state,
        "keys_at_startup": sorted(state) if isinstance(state, dict) else None,
        "state_id": id(state) if isinstance(state, dict) else None,
    }
    _RUNS[run] = record
    message = await receive()
    assert message["type"] == "lifespan.startup", message
    if isinstance(state, dict):
        items: List[str] = []
        obj = object()  # only its identity matters: requests report its id() (S2)
        state["run"] = run
        state["items"] = items
        state["obj"] = obj
        _DICTS[run] = state
        record.update(items_id=id(items), obj_id=id(obj))
        _start_late_writer(run, state)
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    assert message["type"] == "lifespan.shutdown", message
    shutdown_state = scope.get("state")
    record["shutdown"] = {
        "has_state": "state" in scope,
        "same_dict": shutdown_state is state and isinstance(state, dict),
        "state_id": id(shutdown_state) if isinstance(shutdown_state, dict) else None,
        "keys": sorted(shutdown_state) if isinstance(shutdown_state, dict) else None,
        "obj_id": id(shutdown_state.get("obj")) if isinstance(shutdown_state, dict) else None,
    }
    path = os.environ.get("LIFESPAN_STATE_PROBE_REPORT")
    if path:
        # Appended, one line per run: a server started twice writes two lines.
        with open(path, "a", encoding="utf-8") as report:
            report.write(json.dumps(_public(record)) + "\n")
    task = record.pop("_task", None)
    if task is not None:
        task.cancel()
    await send({"type": "lifespan.shutdown.complete"})


def _state_app_count() -> Optional[int]:
    core = sys.modules.get("lifespan_state._core")
    if core is None:
        return None  # the shim was never loaded in this process: nothing can be wrapped
    kind = core.StateApp
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))


def _shim_status() -> Optional[Dict[str, Any]]:
    package = sys.modules.get("lifespan_state._registry")
    if package is None:
        return None
    return {name: info.as_dict() for name, info in package.status().items()}


def _view(scope: Dict[str, Any], state: Any, acted: Dict[str, Any]) -> Dict[str, Any]:
    is_dict = isinstance(state, dict)
    run = state.get("run") if is_dict else None
    lifespan_dict = _DICTS.get(run) if isinstance(run, int) else None
    client = scope.get("client")
    return {
        "type": scope["type"],
        "pid": os.getpid(),
        "token": _TOKEN,
        "client_port": client[1] if client else None,
        "http_version": scope.get("http_version"),
        "has_state": "state" in scope,
        "state_type": "dict" if is_dict else type(state).__name__,  # a subclass is a dict too
        "state_id": id(state) if is_dict else None,
        "keys": sorted(state) if is_dict else None,
        "run": run,
        "obj_id": id(state["obj"]) if is_dict and "obj" in state else None,
        "items_id": id(state["items"]) if is_dict and "items" in state else None,
        "items": list(state["items"]) if is_dict and isinstance(state.get("items"), list) else None,
        "is_lifespan_dict": lifespan_dict is not None and state is lifespan_dict,
        "lifespan": _public(_RUNS[run]) if isinstance(run, int) and run in _RUNS else None,
        "lifespan_keys_now": sorted(lifespan_dict) if lifespan_dict is not None else None,
        "lifespan_obj_id_now": id(lifespan_dict.get("obj")) if lifespan_dict is not None else None,
        "lifespan_runs": [_public(r) for r in _RUNS.values()],
        "runtime_marked": _MARKED.get(),
        "acted": acted,
    }


async def _act(state: Any, query: Dict[str, List[str]]) -> Dict[str, Any]:
    acted: Dict[str, Any] = {}
    is_dict = isinstance(state, dict)
    for key in query.get("write", []):
        if is_dict:
            state[key] = key
            acted.setdefault("written", []).append(key)
    if query.get("replace") and is_dict:
        state["obj"] = object()
        acted["replaced"] = "obj"
    for value in query.get("append", []):
        if is_dict and isinstance(state.get("items"), list):
            state["items"].append(value)
            acted.setdefault("appended", []).append(value)
    if query.get("late") and is_dict and isinstance(state.get("run"), int):
        run = state["run"]
        waker = _WAKERS.get(run)
        if waker is not None:
            waker()
            lifespan_dict = _DICTS[run]
            # Answer only once the background task has written the key (bounded: 5 s).
            for _ in range(500):
                if "late" in lifespan_dict:
                    break
                await _async_library().sleep(0.01)
            acted["late_written"] = "late" in lifespan_dict
    for key in query.get("read", []):
        # What reading a key answers (S13: after the run a harness may explain a missing one).
        try:
            state[key]
            outcome = "found"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        acted.setdefault("read", {})[key] = outcome
    if query.get("sleep"):
        await _async_library().sleep(min(float(query["sleep"][0]), 5.0))
    if query.get("status"):
        acted["status"] = _shim_status()
        acted["state_apps"] = _state_app_count()
    return acted


async def _http(scope: Dict[str, Any], receive: Receive, send: Send) -> None:
    while True:  # read the whole request, so servers keep the connection alive
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if not message.get("more_body", False):
            break
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    state = scope.get("state")
    acted = await _act(state, query)
    body = json.dumps(_view(scope, state, acted)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _websocket(scope: Dict[str, Any], receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    state = scope.get("state")
    await send({"type": "websocket.send", "text": json.dumps(_view(scope, state, {}))})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        verb, _, key = (message.get("text") or "").partition(" ")
        acted = await _act(state, {"write": [key]} if verb == "write" and key else {})
        await send({"type": "websocket.send", "text": json.dumps(_view(scope, state, acted))})


async def app(scope: Dict[str, Any], receive: Receive, send: Send) -> None:
    """The probe: lifespan, http and websocket scopes (ASGI 3)."""
    kind = scope["type"]
    if kind == "lifespan":
        await _lifespan(scope, receive, send)
    elif kind == "http":
        await _http(scope, receive, send)
    elif kind == "websocket":
        await _websocket(scope, receive, send)


#: Middleware arm: did the runtime's request scope carry the middleware's run marker (which names
#: the run, S9)? None in the other arms. A context variable, so the scope reaches the middleware
#: untouched; the request runs in the same task, and reads it there.
_MARKED: contextvars.ContextVar[Optional[bool]] = contextvars.ContextVar("probe_marked", default=None)


def _middleware_arm() -> Callable[[Dict[str, Any], Receive, Send], Awaitable[None]]:
    from .._middleware import _MARK, LifespanStateMiddleware

    wrapped = LifespanStateMiddleware(_probe)

    async def observed(scope: Dict[str, Any], receive: Receive, send: Send) -> None:
        # Observes only (what the runtime handed in, before the middleware replaces it): the
        # middleware still gets the runtime's very scope, receive and send.
        if scope["type"] in ("http", "websocket"):
            given = scope.get("state")
            _MARKED.set(isinstance(given, dict) and _MARK in given)
        await wrapped(scope, receive, send)

    return observed


#: The probe itself, whichever ``app`` is.
_probe = app
if os.environ.get("LIFESPAN_STATE_PROBE_SHIM") == "middleware":
    app = _middleware_arm()  # type: ignore[assignment]
