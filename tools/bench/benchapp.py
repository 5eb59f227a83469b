"""The benchmark's ASGI application: pure ASGI, a small body, reads ``scope["state"]``.

Loaded by the server under test as ``benchapp:app`` (the driver puts this directory on
PYTHONPATH), so it must not import anything from ``tools``. Switches, all environment variables:

* ``BENCH_SHIM=1``: ``import lifespan_state.auto`` (the "on" arm); ``0``: the shim is not
  imported at all (the "off" arm).
* ``BENCH_STATE_KEYS=N``: the lifespan stores N keys (default 4).
* ``BENCH_EXPECT_STATE=1``: every request must see a ``state`` dict holding exactly the lifespan's
  keys, else the response is a 500 — so a run where the shim silently did nothing cannot pass as
  an "on" measurement (the driver requires zero non-2xx responses).
* ``BENCH_MEMORY=1``: start tracemalloc at import and serve ``/__mem`` (RSS and traced memory).
* ``BENCH_LEAK=1``: keep every request's state copy alive — the negative control that proves the
  memory measurement sees a leak when there is one.

``/__shim`` answers what ``lifespan_state.status()`` says in the process serving the request
(``{}`` without the shim): the driver asks it once per arm, so an "on" arm whose server the shim
did not patch (a fix-mode release still has a ``state``, so the check above cannot tell) fails
the row too.

Without the shim an old server gives no ``scope["state"]``: the app tolerates that (the "off" arm
of an old release is the baseline cost of serving without the feature).
"""

from __future__ import annotations

import json
import os
from typing import Any, Awaitable, Callable, Dict, List

Message = Dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SHIM = os.environ.get("BENCH_SHIM") == "1"
#: Wall time of ``import lifespan_state.auto`` here, inside the server's start-up (activation probe).
SHIM_IMPORT_SECONDS = SHIM_IMPORT_CPU_SECONDS = 0.0
if SHIM:
    import time

    _t0, _c0 = time.perf_counter(), time.process_time()
    import lifespan_state.auto  # noqa: F401  (activation is the import)

    SHIM_IMPORT_SECONDS = time.perf_counter() - _t0
    SHIM_IMPORT_CPU_SECONDS = time.process_time() - _c0

KEYS = int(os.environ.get("BENCH_STATE_KEYS", "4"))
EXPECT_STATE = os.environ.get("BENCH_EXPECT_STATE") == "1"
MEMORY = os.environ.get("BENCH_MEMORY") == "1"
LEAK = os.environ.get("BENCH_LEAK") == "1"

if MEMORY:
    import tracemalloc

    tracemalloc.start()

_leaked: List[Dict[str, Any]] = []
_OK_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
}
_OK_BODY = {"type": "http.response.body", "body": b"ok"}
_BAD_START = {
    "type": "http.response.start",
    "status": 500,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"8")],
}
_BAD_BODY = {"type": "http.response.body", "body": b"no state"}


def _lifespan_values(n: int) -> Dict[str, Any]:
    # What real apps keep there: clients, pools, settings; distinct objects, shared by identity.
    return {f"key{i}": ({"setting": i} if i % 2 else [i]) for i in range(n)}


def _shim_report() -> bytes:
    if not SHIM:
        return b"{}"
    import lifespan_state

    return json.dumps(
        {
            name: {"mode": st.mode, "patched": list(st.patched)}
            for name, st in lifespan_state.status().items()
            if st.mode is not None
        }
    ).encode()


async def _send_json(send: Send, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _memory_report() -> bytes:
    with open("/proc/self/statm") as f:
        rss_pages = int(f.read().split()[1])
    traced = tracemalloc.get_traced_memory()[0] if MEMORY else -1
    return json.dumps({"rss": rss_pages * os.sysconf("SC_PAGE_SIZE"), "traced": traced}).encode()


async def app(scope: Dict[str, Any], receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "http":
        state = scope.get("state")
        # A handler fetching its pool: one read of a lifespan key.
        if state is not None:
            state.get("key0")
            if LEAK:
                _leaked.append(state)
        if EXPECT_STATE and (state is None or len(state) != KEYS):
            await send(_BAD_START)
            await send(_BAD_BODY)
            return
        if scope["path"] == "/__mem":
            await _send_json(send, _memory_report())
            return
        if scope["path"] == "/__shim":
            await _send_json(send, _shim_report())
            return
        await send(_OK_START)
        await send(_OK_BODY)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state = scope.get("state")
                if state is not None:
                    state.update(_lifespan_values(KEYS))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
