"""Misuse and coexistence scenarios against a real in-process server (run by
tests/integration/test_reliability_misuse.py inside per-release environments).

Usage: python reliability_misuse.py SERVER SCENARIO
Prints one JSON line with what the scenario observed.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
import warnings
from typing import Any, Callable, Dict, List

from reliability_scenarios import App, Server, get

import lifespan_state
from lifespan_state._patching import wrapper_depth

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def hook_points(server: str) -> Dict[str, Any]:
    """The raw objects at the places our shim and tracing agents wrap."""
    if server == "uvicorn":
        from uvicorn.config import Config
        from uvicorn.lifespan.on import LifespanOn

        return {"LifespanOn.__init__": vars(LifespanOn)["__init__"], "Config.load": vars(Config)["load"]}
    import hypercorn.asyncio
    import hypercorn.asyncio.run

    return {
        "hypercorn.asyncio.worker_serve": hypercorn.asyncio.worker_serve,
        "hypercorn.asyncio.run.worker_serve": hypercorn.asyncio.run.worker_serve,
    }


def depths(server: str) -> Dict[str, int]:
    return {name: wrapper_depth(obj) for name, obj in hook_points(server).items()}


def serve_once(server: str) -> Any:
    """One fresh server run, one request: what its state held (``"None"``: no state)."""
    app = App()
    running = Server(server, app)
    try:
        return get(running.port, "/ok")[1]
    finally:
        running.stop()


# -- a tracing agent's wrappers ---------------------------------------------------------------

AGENT_CALLS: Dict[str, int] = {}


def install_agent(server: str) -> None:
    """What tracing agents do: wrapt.wrap_function_wrapper on the server's own entry points."""
    import wrapt

    def counting(label: str) -> Callable[..., Any]:
        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            AGENT_CALLS[label] = AGENT_CALLS.get(label, 0) + 1
            return wrapped(*args, **kwargs)

        return wrapper

    if server == "uvicorn":
        wrapt.wrap_function_wrapper(
            "uvicorn.lifespan.on", "LifespanOn.__init__", counting("LifespanOn.__init__")
        )
        wrapt.wrap_function_wrapper("uvicorn.config", "Config.load", counting("Config.load"))
    else:
        wrapt.wrap_function_wrapper("hypercorn.asyncio.run", "worker_serve", counting("run.worker_serve"))
        wrapt.wrap_function_wrapper("hypercorn.asyncio", "worker_serve", counting("asyncio.worker_serve"))


def agent_calls_during(action: Callable[[], Any]) -> Any:
    before = dict(AGENT_CALLS)
    result = action()
    return result, {k: v - before.get(k, 0) for k, v in AGENT_CALLS.items()}


def coexist(server: str, order: str) -> Dict[str, Any]:
    importlib.import_module(server)
    if order == "agent_first":
        install_agent(server)
        lifespan_state.activate(server)
    else:
        lifespan_state.activate(server)
        install_agent(server)
    steps: Dict[str, Any] = {}
    seen, calls = agent_calls_during(lambda: serve_once(server))
    steps["both"] = {"seen": seen, "agent_calls": calls, "depths": depths(server)}
    lifespan_state.deactivate(server)
    seen, calls = agent_calls_during(lambda: serve_once(server))
    steps["deactivated"] = {"seen": seen, "agent_calls": calls, "depths": depths(server)}
    lifespan_state.activate(server)
    lifespan_state.activate(server)  # twice on purpose: never a second wrapper
    seen, calls = agent_calls_during(lambda: serve_once(server))
    steps["reactivated"] = {"seen": seen, "agent_calls": calls, "depths": depths(server)}
    return steps


def coexist_agent_first(server: str) -> Dict[str, Any]:
    return coexist(server, "agent_first")


def coexist_agent_after(server: str) -> Dict[str, Any]:
    return coexist(server, "agent_after")


# -- misuse -----------------------------------------------------------------------------------


def status_dict(server: str) -> Dict[str, Any]:
    return lifespan_state.status()[server].as_dict()


def release_metadata(server: str) -> Dict[str, Any]:
    """Whatever the metadata says: explicit activation's outcome, the status, a served request."""
    importlib.import_module(server)
    error = None
    try:
        lifespan_state.activate(server)
    except lifespan_state.LifespanStateError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return {
        "error": error,
        "status": status_dict(server),
        "seen": serve_once(server),
        "depths": depths(server),
    }


def release_metadata_auto(server: str) -> Dict[str, Any]:
    """The same through automatic activation: never raises, logs once, leaves the server as it was."""
    importlib.import_module("lifespan_state.auto")
    importlib.import_module(server)
    return {"status": status_dict(server), "seen": serve_once(server), "depths": depths(server)}


def deactivate_while_running(server: str) -> Dict[str, Any]:
    lifespan_state.activate(server)
    app = App()
    running = Server(server, app)
    try:
        before = get(running.port, "/ok")[1]
        done = threading.Event()

        def deactivate() -> None:
            lifespan_state.deactivate(server)
            done.set()

        # From another thread, as an admin endpoint or a test fixture would.
        threading.Thread(target=deactivate).start()
        done.wait(10)
        after = [get(running.port, "/ok")[1] for _ in range(3)]
        depth_during = depths(server)
    finally:
        running.stop()
    return {
        "before": before,
        "after": after,
        "depths": depth_during,
        "next_run": serve_once(server),
        "error": repr(running.error),
    }


def deactivate_between_runs(server: str) -> Dict[str, Any]:
    """One config served with the shim, then deactivate(), then served again: the second run is
    the plain server's (no state), never the first run's namespace."""
    lifespan_state.activate(server)
    app = App()
    first = Server(server, app)
    seen = [get(first.port, "/ok")[1]]
    first.stop()
    lifespan_state.deactivate(server)
    second = Server(server, app, config=first.config)
    try:
        seen.append(get(second.port, "/ok")[1])
    finally:
        second.stop()
    startups = [e["startup"]["keys"] for e in app.events if "startup" in e]
    return {"seen": seen, "startups": startups, "errors": [repr(first.error), repr(second.error)]}


def concurrent_activation(server: str, imported: bool) -> Dict[str, Any]:
    if imported:
        importlib.import_module(server)
    barrier = threading.Barrier(16)
    errors: List[str] = []

    def racer() -> None:
        barrier.wait(10)
        try:
            lifespan_state.activate(server)
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=racer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    importlib.import_module(server)
    return {"errors": errors, "depths": depths(server), "seen": serve_once(server)}


def threads_after_import(server: str) -> Dict[str, Any]:
    return concurrent_activation(server, imported=True)


def threads_before_import(server: str) -> Dict[str, Any]:
    return concurrent_activation(server, imported=False)


class ActivatingApp(App):
    """``/activate`` calls activate() from inside a request of the running server."""

    def __init__(self, server: str) -> None:
        super().__init__()
        self.server = server
        self.caught: List[str] = []

    async def http(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/activate":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                lifespan_state.activate(self.server)
            self.caught += [f"{w.category.__name__}: {w.message}" for w in caught]
        await super().http(scope, receive, send)


def activate_while_running(server: str) -> Dict[str, Any]:
    """Activation inside a running server (a handler importing it lazily), then from another
    thread: the run goes on unchanged (and is told once), the next run gets state."""
    app = ActivatingApp(server)
    running = Server(server, app)
    try:
        before = get(running.port, "/ok")[1]
        during = get(running.port, "/activate")[1]
        after = get(running.port, "/ok")[1]
        lifespan_state.deactivate(server)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            thread = threading.Thread(target=lifespan_state.activate, args=(server,))
            thread.start()
            thread.join(10)  # (warned once per process already: nothing more is expected)
        after_thread = get(running.port, "/ok")[1]
    finally:
        running.stop()
    return {
        "before": before,
        "during": during,
        "after": [after, after_thread],
        "warnings": app.caught,
        "thread_warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "next_run": serve_once(server),
        "error": repr(running.error),
    }


SCENARIOS = {
    f.__name__: f
    for f in (
        coexist_agent_first,
        coexist_agent_after,
        release_metadata,
        release_metadata_auto,
        deactivate_while_running,
        deactivate_between_runs,
        threads_after_import,
        threads_before_import,
        activate_while_running,
    )
}


def main() -> None:
    server, name = sys.argv[1], sys.argv[2]
    import wrapt

    result = SCENARIOS[name](server)
    result["wrapt"] = getattr(wrapt, "__version__", "?")
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
