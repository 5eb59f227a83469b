"""S9 driver: serve the probe in-process, twice with one config and with two servers at once.

Run as ``python -m lifespan_state.check._driver SERVER CONFIG_JSON TIMEOUT`` in the environment
being checked (the one place of the kit that imports a server, in its own subprocess); prints one
JSON line ``{"sequential": [run 1, run 2], "concurrent": [server A, server B], "error": ""}`` of
the probe's views (run 1 writes ``req-s9-a``; A writes ``req-s9-x``, B ``req-s9-y``, then each is
read again). The probe is loaded by import string, so ``LIFESPAN_STATE_PROBE_SHIM=1`` activates
the shim inside the server's app loading.
"""


from __future__ import annotations

import asyncio
import importlib
import json
import sys
import traceback
from typing import Any, Awaitable, Callable, Dict, List, Tuple

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


def _probe() -> Any:
    module, _, name = PROBE_APP.partition(":")
    return getattr(importlib.import_module(module), name)


def _hypercorn(options: Dict[str, str], timeout: float) -> Json:
    if options.get("worker") == "trio":
        return _hypercorn_trio(timeout)
    from hypercorn.asyncio import serve as hypercorn_serve

    app = _probe()

    def serve(config: Any) -> Tuple[Awaitable[Any], Callable[[], None]]:
        stop = asyncio.Event()
        return hypercorn_serve(app, config, shutdown_trigger=stop.wait), stop.set

    return asyncio.run(_on_asyncio(serve, _hypercorn_config, timeout))


def _hypercorn_trio(timeout: float) -> Json:
    """The same two scenarios on hypercorn's trio worker (its own serve() and worker_serve())."""
    from functools import partial

    import trio
    from hypercorn.trio import serve

    app = _probe()

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


_DRIVERS = {"uvicorn": _uvicorn, "hypercorn": _hypercorn}


def main(argv: List[str]) -> int:
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
