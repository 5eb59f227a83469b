"""hypercorn's part of the check kit, run in the checked environment (``lifespan_state.check._driver``):
the release's options (``capabilities``) and the in-process S9 driver (``drive``)."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from typing import Any, Awaitable, Callable, Dict, List, Tuple

from ...check._driver import HOST, Json, Schedule, installed, on_asyncio, request, result, scenarios

__all__ = ["capabilities", "drive"]


def _config(port: int) -> Any:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{HOST}:{port}"]
    return config


def drive(options: Dict[str, str], timeout: float) -> Json:
    """The S9 scenarios on ``hypercorn.asyncio.serve``, or the trio worker's own ``serve``."""
    if options.get("worker") == "trio":
        return _drive_trio(timeout)
    from hypercorn.asyncio import serve as hypercorn_serve

    from ...check._probe import app  # with LIFESPAN_STATE_PROBE_SHIM=1 its import activates the shim

    def serve(config: Any) -> Tuple[Awaitable[Any], Callable[[], None]]:
        stop = asyncio.Event()
        return hypercorn_serve(app, config, shutdown_trigger=stop.wait), stop.set

    return asyncio.run(on_asyncio(serve, _config, timeout))


def _drive_trio(timeout: float) -> Json:
    """The same scenarios on the trio worker (its own serve() and worker_serve()), each scenario in
    its own ``trio.run``."""
    from functools import partial

    import trio
    from hypercorn.trio import serve

    from ...check._probe import app

    async def serving(configs: List[Any], schedule: Schedule) -> List[Json]:
        stops = [trio.Event() for _ in configs]
        views: List[Json] = []
        with trio.fail_after(timeout * 4):
            async with trio.open_nursery() as nursery:
                for config, stop in zip(configs, stops):
                    nursery.start_soon(partial(serve, app, config, shutdown_trigger=stop.wait))
                for port, target in schedule:
                    views.append(await trio.to_thread.run_sync(request, port, target, timeout))
                for stop in stops:
                    stop.set()
        return views

    return result([trio.run(serving, configs, schedule) for configs, schedule in scenarios(_config)])


def capabilities() -> Json:
    """The workers and worker counts this release and environment can run."""
    from packaging.version import Version

    importlib.import_module("hypercorn.config")  # importable at all?
    found = installed("hypercorn")  # nonecorn installs this code under its own name
    version = found["version"]
    # 0.14.2+ spawns worker processes even for 1; 0 serves in the main process (0.15+).
    workers = ["default", "1", "2"] + (["0"] if Version(version) >= Version("0.15") else [])
    return {
        **found,
        # One port speaks HTTP/1.1 (h11) and, by prior knowledge, cleartext HTTP/2 (h2).
        "choices": {"http": ["h11+h2"], "ws": ["wsproto"], "lifespan": ["auto"],
                    "worker": ["asyncio"] + [k for k in ("uvloop", "trio") if importlib.util.find_spec(k)],
                    "workers": workers},
        "defaults": {"http": "h11+h2", "ws": "wsproto", "lifespan": "auto", "worker": "asyncio",
                     "workers": "default"},
    }
