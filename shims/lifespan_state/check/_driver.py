"""S9 driver: serve the probe in-process, twice with one config and with two servers at once.

Run as ``python -m lifespan_state.check._driver SERVER CONFIG_JSON TIMEOUT`` in the environment
being checked (the one place of the kit that imports a server, in its own subprocess); prints one
JSON line ``{"sequential": [run 1, run 2], "concurrent": [server A, server B], "error": ""}`` of
the probe's views (run 1 writes ``req-s9-a``; A writes ``req-s9-x``, B ``req-s9-y``, then each is
read again). ``python -m lifespan_state.check._driver capabilities SERVER`` prints ``{"version",
"distribution", "choices", "defaults"}`` of the installed release instead (``Recipe.available``;
it exits with the traceback when the server is not importable).

What serves is the integration's: its descriptor's ``launch.driver`` (``(options, timeout) ->
the line``) and ``launch.capabilities`` (``() -> the dict``). They serve :func:`scenarios` with the
server's Python API, most through :func:`on_asyncio`; :data:`PROBE_APP` loaded by import string
(or ``lifespan_state.check._probe``'s ``app`` imported in the driver) makes
``LIFESPAN_STATE_PROBE_SHIM=1`` activate the shim inside the server's app loading.
"""


from __future__ import annotations

import asyncio
import json
import sys
import traceback
from typing import Any, Awaitable, Callable, Dict, List, Tuple

from .._integrations._load import by_name
from ._installed import providing
from ._recipes import PROBE_APP
from ._runner import HOST, free_port, http_get, wait_for_port

__all__ = ["HOST", "PROBE_APP", "Json", "Schedule", "installed", "main", "on_asyncio", "request", "result",
           "scenarios"]

Json = Dict[str, Any]
#: (port, target) requests, made one after another while the servers run.
Schedule = List[Tuple[int, str]]
#: config -> (the server's coroutine serving it, a function that asks it to stop).
Serve = Callable[[Any], Tuple[Awaitable[Any], Callable[[], None]]]


def installed(server: str) -> Json:
    """``{"version", "distribution"}`` of what installed ``server``'s import package here: its own
    distribution, or one of another name shipping the same code (a capabilities probe's fields)."""
    package = by_name(server).imports[0].partition(".")[0]
    found = providing(server, package)
    if found is None:
        raise LookupError(f"no distribution here installs {package} ({server})")
    return {"distribution": found[0], "version": found[1]}


def request(port: int, target: str, timeout: float) -> Json:
    """The probe's view answering ``GET target`` once the in-process server listens on ``port``."""
    if not wait_for_port(HOST, port, timeout):
        raise RuntimeError(f"in-process server did not listen on {port}")
    data: Json = http_get(port, target, timeout=timeout).json()
    return data


def scenarios(make: Callable[[int], Any]) -> List[Tuple[List[Any], Schedule]]:
    """The S9 scenarios as (server configs, requests): one config served twice, then two at once.

    ``make(port)`` is one server's config listening on ``port``."""
    port, a, b = free_port(), free_port(), free_port()
    config = make(port)  # one config, two runs
    return [([config], [(port, "/?write=req-s9-a")]), ([config], [(port, "/")]),
            ([make(a), make(b)], [(a, "/?write=req-s9-x"), (b, "/?write=req-s9-y"), (a, "/"), (b, "/")])]


def result(views: List[List[Json]]) -> Json:
    """The driver's line from each scenario's views (the reads after the writes)."""
    first, second, both = views
    return {"sequential": [first[0], second[0]], "concurrent": both[2:]}


async def on_asyncio(serve: Serve, make: Callable[[int], Any], timeout: float) -> Json:
    """The driver's line of a server served on asyncio: ``serve(config)`` starts one."""

    async def serving(configs: List[Any], schedule: Schedule) -> List[Json]:
        runs = [serve(config) for config in configs]
        tasks = [asyncio.ensure_future(coroutine) for coroutine, _ in runs]
        loop = asyncio.get_running_loop()
        try:
            # Requests from a thread: the servers run on this loop.
            return [await asyncio.wait_for(loop.run_in_executor(None, request, p, t, timeout),
                                           timeout * 2) for p, t in schedule]
        finally:
            for _, stop in runs:
                stop()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout * 2)

    # One event loop for every scenario.
    return result([await serving(configs, schedule) for configs, schedule in scenarios(make)])


def _launch_code(server: str, what: str) -> Callable[..., Json]:
    """The function the integration's ``launch`` names for ``what`` ("driver" or "capabilities")."""
    integration = by_name(server)
    reference = getattr(integration.launch, what, "")
    if not reference:
        raise LookupError(f"{server} has no {what} in its launch recipe")
    code: Callable[..., Json] = integration.resolve(reference)
    return code


def main(argv: List[str]) -> int:
    if argv[0] == "capabilities":  # a failure is its traceback: Recipe.available reports the last line
        print(json.dumps(_launch_code(argv[1], "capabilities")()), flush=True)
        return 0
    server, options, timeout = argv[0], json.loads(argv[1]), float(argv[2])
    try:
        line = _launch_code(server, "driver")(options, timeout)
        line["error"] = ""
    except BaseException as exc:  # report, never hang: the checking process reads this line
        traceback.print_exc()
        line = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    # The integrations' drivers import this module by its name, a second copy of it beside
    # ``__main__``: harmless, it holds no state.
    sys.exit(main(sys.argv[1:]))
