"""S9 driver: serve the probe in-process, twice with one config and with two servers at once.

Run as ``python -m lifespan_state.check._driver SERVER CONFIG_JSON TIMEOUT`` in the environment
being checked (the one place of the kit that imports a server, in its own subprocess); prints one
JSON line ``{"sequential": [run 1, run 2], "concurrent": [server A, server B], "error": ""}`` of
the probe's views (run 1 writes ``req-s9-a``; A writes ``req-s9-x``, B ``req-s9-y``, then each is
read again). The probe is loaded by import string, so ``LIFESPAN_STATE_PROBE_SHIM=1`` activates
the shim inside the server's app loading. ``python -m lifespan_state.check._driver capabilities
SERVER`` prints ``{"version", "choices", "defaults"}`` of the installed release instead
(``Recipe.available``; it exits with the traceback when the server is not importable).
"""


from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import traceback
from importlib import metadata
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from ._recipes import PROBE_APP
from ._runner import HOST, free_port, http_get, wait_for_port

__all__ = ["main"]

Json = Dict[str, Any]
#: (port, target) requests, made one after another while the servers run.
Plan = List[Tuple[int, str]]


def _request(port: int, target: str, timeout: float) -> Json:
    if not wait_for_port(HOST, port, timeout):
        raise RuntimeError(f"in-process server did not listen on {port}")
    data: Json = http_get(port, target, timeout=timeout).json()
    return data


def _scenarios(make: Callable[[int], Any]) -> List[Tuple[List[Any], Plan]]:
    """The S9 scenarios as (server configs, requests): one config served twice, then two at once."""
    port, a, b = free_port(), free_port(), free_port()
    config = make(port)  # one config, two runs
    return [([config], [(port, "/?write=req-s9-a")]), ([config], [(port, "/")]),
            ([make(a), make(b)], [(a, "/?write=req-s9-x"), (b, "/?write=req-s9-y"), (a, "/"), (b, "/")])]


def _result(views: List[List[Json]]) -> Json:
    """The driver's line from each scenario's views (the reads after the writes)."""
    first, second, both = views
    return {"sequential": [first[0], second[0]], "concurrent": both[2:]}


async def _on_asyncio(serve: Callable[[Any], Tuple[Awaitable[Any], Callable[[], None]]],
                      make: Callable[[int], Any], timeout: float) -> Json:
    """``serve(config)`` -> (the server's coroutine, a function that asks it to stop)."""

    async def serving(configs: List[Any], plan: Plan) -> List[Json]:
        runs = [serve(config) for config in configs]
        tasks = [asyncio.ensure_future(coroutine) for coroutine, _ in runs]
        loop = asyncio.get_running_loop()
        try:
            # Requests from a thread: the servers run on this loop.
            return [await asyncio.wait_for(loop.run_in_executor(None, _request, p, t, timeout),
                                           timeout * 2) for p, t in plan]
        finally:
            for _, stop in runs:
                stop()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout * 2)

    # One event loop for every scenario (each trio scenario gets its own trio.run, below).
    return _result([await serving(configs, plan) for configs, plan in _scenarios(make)])


def _uvicorn(options: Dict[str, str], timeout: float) -> Json:
    import uvicorn

    def make(port: int) -> Any:
        kwargs: Dict[str, Any] = {"host": HOST, "port": port, "log_level": "warning",
                                  "lifespan": "on" if options.get("lifespan") != "off" else "off"}
        kwargs.update({k: options[k] for k in ("http", "ws") if k in options})
        return uvicorn.Config(PROBE_APP, **kwargs)

    def serve(config: Any) -> Tuple[Awaitable[Any], Callable[[], None]]:
        server = uvicorn.Server(config)
        return server.serve(), lambda: setattr(server, "should_exit", True)

    return asyncio.run(_on_asyncio(serve, make, timeout))


def _hypercorn_config(port: int) -> Any:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{HOST}:{port}"]
    return config


def _hypercorn(options: Dict[str, str], timeout: float) -> Json:
    if options.get("worker") == "trio":
        return _hypercorn_trio(timeout)
    from hypercorn.asyncio import serve as hypercorn_serve

    from ._probe import app  # with LIFESPAN_STATE_PROBE_SHIM=1 its import activates the shim

    def serve(config: Any) -> Tuple[Awaitable[Any], Callable[[], None]]:
        stop = asyncio.Event()
        return hypercorn_serve(app, config, shutdown_trigger=stop.wait), stop.set

    return asyncio.run(_on_asyncio(serve, _hypercorn_config, timeout))


def _hypercorn_trio(timeout: float) -> Json:
    """The same two scenarios on hypercorn's trio worker (its own serve() and worker_serve())."""
    from functools import partial

    import trio
    from hypercorn.trio import serve

    from ._probe import app

    async def serving(configs: List[Any], plan: Plan) -> List[Json]:
        stops = [trio.Event() for _ in configs]
        views: List[Json] = []
        with trio.fail_after(timeout * 4):
            async with trio.open_nursery() as nursery:
                for config, stop in zip(configs, stops):
                    nursery.start_soon(partial(serve, app, config, shutdown_trigger=stop.wait))
                for port, target in plan:
                    views.append(await trio.to_thread.run_sync(_request, port, target, timeout))
                for stop in stops:
                    stop.set()
        return views

    return _result([trio.run(serving, configs, plan) for configs, plan in _scenarios(_hypercorn_config)])


def _uvicorn_capabilities() -> Json:
    import uvicorn.config as c

    needs = {"httptools": "httptools", "websockets": "websockets", "websockets-sansio": "websockets",
             "wsproto": "wsproto", "uvloop": "uvloop"}

    def usable(key: str) -> bool:
        return key not in needs or importlib.util.find_spec(needs[key]) is not None

    def resolve(table: Dict[str, str]) -> Optional[str]:
        # What uvicorn's "auto" picks in this environment, as the option value naming it.
        module, _, attr = table["auto"].partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except Exception:
            return None
        if obj is None:
            return "none"
        target = f"{obj.__module__}:{obj.__name__}"
        return next((key for key, value in table.items() if key != "auto" and value == target), None)

    # zttp (uvicorn's HTTP/2, 0.53+) never ends a bodiless request: the probe's GETs would hang.
    http = [k for k in c.HTTP_PROTOCOLS if k not in ("auto", "zttp") and usable(k)]
    ws = [k for k in c.WS_PROTOCOLS if k != "auto" and usable(k)]
    loops = getattr(c, "LOOP_SETUPS", None) or getattr(c, "LOOP_FACTORIES", None) or {}
    return {
        "version": metadata.version("uvicorn"),
        "choices": {"http": http, "ws": ws, "lifespan": [k for k in ("on", "auto", "off") if k in c.LIFESPAN],
                    "worker": [k for k in ("asyncio", "uvloop") if k in loops and usable(k)]},
        # asyncio, not uvicorn's "auto": releases < 0.15 break on uvloop >= 0.22.
        "defaults": {"http": resolve(c.HTTP_PROTOCOLS) or "h11",
                     "ws": resolve(c.WS_PROTOCOLS) or ("wsproto" if "wsproto" in ws else "none"),
                     "lifespan": "auto", "worker": "asyncio"},
    }


def _hypercorn_capabilities() -> Json:
    from packaging.version import Version

    importlib.import_module("hypercorn.config")  # importable at all?
    version = metadata.version("hypercorn")
    # 0.14.2+ spawns worker processes even for 1; 0 serves in the main process (0.15+).
    workers = ["default", "1", "2"] + (["0"] if Version(version) >= Version("0.15") else [])
    return {
        "version": version,
        # One port speaks HTTP/1.1 (h11) and, by prior knowledge, cleartext HTTP/2 (h2).
        "choices": {"http": ["h11+h2"], "ws": ["wsproto"], "lifespan": ["auto"],
                    "worker": ["asyncio"] + [k for k in ("uvloop", "trio") if importlib.util.find_spec(k)],
                    "workers": workers},
        "defaults": {"http": "h11+h2", "ws": "wsproto", "lifespan": "auto", "worker": "asyncio",
                     "workers": "default"},
    }


_DRIVERS = {"uvicorn": _uvicorn, "hypercorn": _hypercorn}
_CAPABILITIES = {"uvicorn": _uvicorn_capabilities, "hypercorn": _hypercorn_capabilities}


def main(argv: List[str]) -> int:
    if argv[0] == "capabilities":  # a failure is its traceback: Recipe.available reports the last line
        print(json.dumps(_CAPABILITIES[argv[1]]()), flush=True)
        return 0
    server, options, timeout = argv[0], json.loads(argv[1]), float(argv[2])
    try:
        result = _DRIVERS[server](options, timeout)
        result["error"] = ""
    except BaseException as exc:  # report, never hang: the checking process reads this line
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
