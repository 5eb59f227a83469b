"""Per-scope cost of ``StateApp.__call__``, next to its floor and a native server's own copy.

Run as a script by any interpreter from 3.8 up (``python micro.py CORE_PATH NUMBER REPEAT``); prints
one JSON object. ``_core.py`` is loaded by path, so no environment, wrapt or server is needed:
the hot path imports nothing.

What is timed (ns per operation, each statement timed ``REPEAT`` times, the statements
interleaved so that a burst of load from another process hits all of them alike):

* ``call``: one plain Python call ``inner(scope, receive, send)`` — the app itself, returning
  nothing, so coroutine creation is not part of any number;
* ``shim``: ``state_fn(scope, receive, send)`` — the same call through what the shim of a
  three-argument server installs (``StateApp.asgi3()``, a plain function; the StateApp object
  itself where the loaded ``_core`` predates it);
* ``copy``: ``state.copy()`` — the floor: a per-request copy cannot cost less;
* ``native``: what a server copying the state per request adds to each scope it builds (the
  descriptors' ``bench.native_copy`` names it): the scope literal with
  ``"state": self.app_state.copy()`` minus the same literal without it;
* ``instance``: calling an object whose ``__call__`` does nothing — what CPython charges for
  calling any instance of a Python class, before the shim does any work;
* ``shim5`` / ``call5``: the same with five positional arguments (``bench.five_args``: how one
  server calls the app), through the StateApp object (what that server's shim installs);
* ``empty``: the timing loop itself, subtracted from the others.

The middleware beside the shim, each scope a coroutine driven to its end (``coro.send(None)``,
as an event loop does), the server's own per-request copy of its dict made in every statement
(a native server's, marked by the middleware's run): ``acall`` is the async app alone,
``ashim`` the same through the shim's function, ``middleware`` through
``LifespanStateMiddleware`` (a running run), ``frame`` through an ``async def`` that only awaits
the app — one coroutine frame, the floor of any async wrapper. Measured where the package sits
beside ``_core.py`` (not for a ``_core.py`` loaded alone).

Timers read the thread's CPU time (``time.thread_time``), not the wall clock: on a machine shared
with other jobs, time spent descheduled would otherwise land in whichever statement was running.
Each number is the minimum over the repeats (timeit's convention: the lower bound the machine can
reach), the median is reported next to it.

``added = shim - call`` is what the shim adds to one hand-off; the floor is ``copy + call`` (a
per-request copy and the one extra call any wrapper makes) and the target ``added <= 2 * floor``.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import statistics
import sys
import time
import timeit
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List


def _load_core(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_bench_core", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scope() -> Dict[str, Any]:
    # The keys a server builds for an HTTP/1.1 request, as a realistic dict to store into.
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 51000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")],
    }


class _NativeServer:
    """Stands for a native server's protocol object: it reads ``self.app_state`` per scope."""

    def __init__(self, state: Dict[str, Any]) -> None:
        self.app_state = state


def _load_middleware(core_path: str) -> Any:
    """The middleware class of the package ``_core.py`` belongs to, or None (a core alone)."""
    package = Path(core_path).resolve().parent
    if not (package / "_middleware.py").exists():
        return None
    sys.path.insert(0, str(package.parent))
    from lifespan_state._middleware import LifespanStateMiddleware

    return LifespanStateMiddleware


class _Suspend:
    """Awaiting it suspends a coroutine once; it is never resumed (a run that stays on)."""

    def __await__(self) -> Any:
        yield


def _running(middleware: Any, app: Any, state: Dict[str, Any], native: Dict[str, Any]) -> Any:
    """``middleware(app)`` with a run on: its lifespan started (``state`` stored) and left
    suspended, ``native`` the server's dict the middleware marked. Returns (middleware, the
    suspended lifespan coroutine: keep it alive)."""

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        scope["state"].update(state)
        await send({"type": "lifespan.startup.complete"})
        await _Suspend()

    async def send(message: Any) -> None:
        return None

    wrapped = middleware(lifespan_app)
    lifespan = wrapped({"type": "lifespan", "state": native}, None, send)
    lifespan.send(None)  # runs to the suspension: startup complete, the run is on
    # Requests then reach ``app`` itself: no dispatching call of ours inside the timed statement.
    wrapped.app = app
    return wrapped, lifespan


#: One scope through ``fn``: the server's copy of its dict, the coroutine driven to its end.
_DRIVE = """
scope["state"] = native.copy()
c = {fn}(scope, receive, send)
try:
    c.send(None)
except StopIteration:
    pass
"""


def _async_statements(core: ModuleType, middleware: Any, state: Dict[str, Any], env: Dict[str, Any]) -> Any:
    async def ainner(scope: Any, receive: Any, send: Any) -> None:
        return None

    async def frame(scope: Any, receive: Any, send: Any) -> None:
        await ainner(scope, receive, send)

    native: Dict[str, Any] = {}
    wrapped, lifespan = _running(middleware, ainner, state, native)
    env.update(ainner=ainner, frame=frame, middleware=wrapped, native=native,
               ashim=core.StateApp(ainner, dict(state)).asgi3())
    return lifespan, {name: _DRIVE.format(fn=fn) for name, fn in (
        ("acall", "ainner"), ("ashim", "ashim"), ("middleware", "middleware"), ("frame", "frame"))}


def measure(core_path: str, number: int, repeat: int) -> Dict[str, Any]:
    core = _load_core(core_path)
    middleware = _load_middleware(core_path)
    results: Dict[str, Dict[str, Any]] = {}
    for keys in (4, 100):
        state = {f"key{i}": ([i] if i % 2 else {"setting": i}) for i in range(keys)}

        def inner(scope: Any, receive: Any, send: Any, *more: Any) -> None:
            return None

        class Instance:
            def __call__(self, scope: Any, receive: Any, send: Any, *more: Any) -> None:
                return None

        state_app = core.StateApp(inner, state)
        native = _NativeServer(state)
        env = {
            "inner": inner,
            "state_app": state_app,
            "state_fn": state_app.asgi3() if hasattr(state_app, "asgi3") else state_app,
            "state": state,
            "scope": _scope(),
            "instance": Instance(),
            "receive": None,
            "send": None,
            "self": native,
        }
        literal = (
            '{"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "server": None,'
            ' "client": None, "scheme": "http", "method": "GET", "root_path": "", "path": "/",'
            ' "raw_path": b"/", "query_string": b"", "headers": []%s}'
        )
        stmts = {
            "empty": "pass",
            "call": "inner(scope, receive, send)",
            "shim": "state_fn(scope, receive, send)",
            "call5": "inner(scope, receive, send, None, None)",
            "shim5": "state_app(scope, receive, send, None, None)",
            "instance": "instance(scope, receive, send)",
            "copy": "state.copy()",
            "literal": literal % "",
            "literal_state": literal % ', "state": self.app_state.copy()',
        }
        lifespan = None
        if middleware is not None:
            lifespan, more = _async_statements(core, middleware, state, env)
            stmts.update(more)
        clock = time.thread_time
        timers = {name: timeit.Timer(stmt, timer=clock, globals=env) for name, stmt in stmts.items()}
        samples: Dict[str, List[float]] = {name: [] for name in stmts}
        for _ in range(repeat):
            for name, timer in timers.items():
                samples[name].append(timer.timeit(number) / number * 1e9)
        low = {name: min(values) for name, values in samples.items()}
        med = {name: statistics.median(values) for name, values in samples.items()}
        empty = low["empty"]
        row = {
            "call_ns": low["call"] - empty,
            "shim_ns": low["shim"] - empty,
            "copy_ns": low["copy"] - empty,
            "instance_ns": low["instance"] - empty,
            "native_ns": low["literal_state"] - low["literal"],
            "added_ns": low["shim"] - low["call"],
            "added5_ns": low["shim5"] - low["call5"],
            "added_median_ns": med["shim"] - med["call"],
            "copy_median_ns": med["copy"] - med["empty"],
        }
        row["target_ns"] = 2 * (row["copy_ns"] + row["call_ns"])
        row["met"] = row["added_ns"] <= row["target_ns"]
        if lifespan is not None:
            row.update(
                acall_ns=low["acall"] - empty,
                shim_async_added_ns=low["ashim"] - low["acall"],
                middleware_added_ns=low["middleware"] - low["acall"],
                frame_ns=low["frame"] - low["acall"],
                middleware_added_median_ns=med["middleware"] - med["acall"],
            )
            lifespan.close()
        results[str(keys)] = row
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "number": number,
        "repeat": repeat,
        "sizes": results,
    }


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
