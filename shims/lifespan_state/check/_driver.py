"""S9 driver: serve the probe in-process, twice with one config and with two servers at once.

Run as ``python -m lifespan_state.check._driver SERVER CONFIG_JSON TIMEOUT`` by the checks, in the
environment being checked; this is the one place of the check kit that imports a server, and it
does so in its own subprocess (hypercorn's trio worker is driven under trio). It prints one
JSON line::

    {"sequential": [view_run1, view_run2], "concurrent": [view_a, view_b], "error": ""}

where each view is the probe's answer to a request (run 1 writes ``req-s9-a``; server A writes
``req-s9-x``, server B ``req-s9-y``). The probe is loaded the way servers load it (an import
string), so ``LIFESPAN_STATE_PROBE_SHIM=1`` activates the shim inside the server's app loading.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from typing import Any, Awaitable, Callable, Dict, List

from ._h1 import HTTP1Connection
from ._runner import HOST, free_port, wait_for_port
from ._servers import PROBE_APP

__all__ = ["main"]

Json = Dict[str, Any]


async def _client(port: int, targets: List[str], timeout: float) -> List[Json]:
    """Requests from a thread (the server runs on this loop), on one keep-alive connection."""

    def run() -> List[Json]:
        if not wait_for_port(HOST, port, timeout):
            raise RuntimeError(f"in-process server did not listen on {port}")
        with HTTP1Connection(HOST, port, timeout=timeout) as conn:
            return [conn.get(t).json() for t in targets]

    return await asyncio.get_running_loop().run_in_executor(None, run)


# -- uvicorn --------------------------------------------------------------------------------------

async def _uvicorn(config_options: Dict[str, str], timeout: float) -> Json:
    import uvicorn

    def make_config(port: int) -> Any:
        kwargs: Dict[str, Any] = {"host": HOST, "port": port, "log_level": "warning",
                                  "lifespan": "on" if config_options.get("lifespan") != "off" else "off"}
        for option, keyword in (("http", "http"), ("ws", "ws")):
            if option in config_options:
                kwargs[keyword] = config_options[option]
        return uvicorn.Config(PROBE_APP, **kwargs)

    async def serve(server: Any, action: Callable[[], Awaitable[List[Json]]]) -> List[Json]:
        task = asyncio.ensure_future(server.serve())
        try:
            return await asyncio.wait_for(action(), timeout * 2)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout * 2)

    port = free_port()
    config = make_config(port)
    first = await serve(uvicorn.Server(config), lambda: _client(port, ["/?write=req-s9-a"], timeout))
    second = await serve(uvicorn.Server(config), lambda: _client(port, ["/"], timeout))

    port_a, port_b = free_port(), free_port()
    server_a, server_b = uvicorn.Server(make_config(port_a)), uvicorn.Server(make_config(port_b))

    async def both() -> List[Json]:
        a = await _client(port_a, ["/?write=req-s9-x"], timeout)
        b = await _client(port_b, ["/?write=req-s9-y"], timeout)
        # Read again on each, after both wrote: a leak would show here.
        a2 = await _client(port_a, ["/"], timeout)
        b2 = await _client(port_b, ["/"], timeout)
        return [a[0], b[0], a2[0], b2[0]]

    tasks = [asyncio.ensure_future(s.serve()) for s in (server_a, server_b)]
    try:
        views = await asyncio.wait_for(both(), timeout * 4)
    finally:
        server_a.should_exit = server_b.should_exit = True
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout * 2)
    return {"sequential": [first[0], second[0]], "concurrent": [views[2], views[3]]}


# -- hypercorn ------------------------------------------------------------------------------------

async def _hypercorn(config_options: Dict[str, str], timeout: float) -> Json:
    import importlib

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    module, _, name = PROBE_APP.partition(":")
    app = getattr(importlib.import_module(module), name)

    def make_config(port: int) -> Any:
        config = Config()
        config.bind = [f"{HOST}:{port}"]
        return config

    async def serve_with(config: Any, action: Callable[[], Awaitable[List[Json]]]) -> List[Json]:
        stop = asyncio.Event()
        task = asyncio.ensure_future(serve(app, config, shutdown_trigger=stop.wait))
        try:
            return await asyncio.wait_for(action(), timeout * 2)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout * 2)

    port = free_port()
    config = make_config(port)
    first = await serve_with(config, lambda: _client(port, ["/?write=req-s9-a"], timeout))
    second = await serve_with(config, lambda: _client(port, ["/"], timeout))

    port_a, port_b = free_port(), free_port()
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    tasks = [
        asyncio.ensure_future(serve(app, make_config(port_a), shutdown_trigger=stop_a.wait)),
        asyncio.ensure_future(serve(app, make_config(port_b), shutdown_trigger=stop_b.wait)),
    ]
    try:
        await _client(port_a, ["/?write=req-s9-x"], timeout)
        await _client(port_b, ["/?write=req-s9-y"], timeout)
        a2 = await _client(port_a, ["/"], timeout)
        b2 = await _client(port_b, ["/"], timeout)
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout * 2)
    return {"sequential": [first[0], second[0]], "concurrent": [a2[0], b2[0]]}


def _hypercorn_trio(config_options: Dict[str, str], timeout: float) -> Json:
    """The same two scenarios on hypercorn's trio worker (its own serve() and worker_serve())."""
    import importlib
    from functools import partial

    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve

    module, _, name = PROBE_APP.partition(":")
    app = getattr(importlib.import_module(module), name)

    def make_config(port: int) -> Any:
        config = Config()
        config.bind = [f"{HOST}:{port}"]
        return config

    def requests(port: int, targets: List[str]) -> List[Json]:
        if not wait_for_port(HOST, port, timeout):
            raise RuntimeError(f"in-process server did not listen on {port}")
        with HTTP1Connection(HOST, port, timeout=timeout) as conn:
            return [conn.get(t).json() for t in targets]

    async def serving(configs: List[Any], plan: List[Any]) -> List[Json]:
        stops = [trio.Event() for _ in configs]
        views: List[Json] = []
        with trio.fail_after(timeout * 4):
            async with trio.open_nursery() as nursery:
                for config, stop in zip(configs, stops):
                    nursery.start_soon(partial(serve, app, config, shutdown_trigger=stop.wait))
                for port, targets in plan:
                    views += await trio.to_thread.run_sync(requests, port, targets)
                for stop in stops:
                    stop.set()
        return views

    async def scenarios() -> Json:
        port = free_port()
        config = make_config(port)
        first = await serving([config], [(port, ["/?write=req-s9-a"])])
        second = await serving([config], [(port, ["/"])])
        port_a, port_b = free_port(), free_port()
        views = await serving(
            [make_config(port_a), make_config(port_b)],
            [(port_a, ["/?write=req-s9-x"]), (port_b, ["/?write=req-s9-y"]), (port_a, ["/"]),
             (port_b, ["/"])],
        )
        return {"sequential": [first[0], second[0]], "concurrent": [views[2], views[3]]}

    result: Json = trio.run(scenarios)
    return result


_DRIVERS = {"uvicorn": _uvicorn, "hypercorn": _hypercorn}


def main(argv: List[str]) -> int:
    server, options, timeout = argv[0], json.loads(argv[1]), float(argv[2])
    try:
        if server == "hypercorn" and options.get("worker") == "trio":
            result = _hypercorn_trio(options, timeout)
        else:
            result = asyncio.run(_DRIVERS[server](options, timeout))
        result["error"] = ""
    except BaseException as exc:  # report, never hang: the checking process reads this line
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
