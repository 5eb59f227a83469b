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


def measure(core_path: str, number: int, repeat: int) -> Dict[str, Any]:
    core = _load_core(core_path)
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
