"""Activation that comes too late, in a real server run; print what the requests saw as JSON.

Usage: python too_late.py SERVER WHERE PORT [WORKER]

Serves the check kit's probe app twice in this process with SERVER (``uvicorn``, or ``hypercorn``
with the ``asyncio`` or ``trio`` WORKER) on 127.0.0.1:PORT, and activates the shim WHERE:

* ``request``: from a request handler of each run (twice: the second activation must not warn);
* ``lifespan``: from the app's lifespan startup of each run;
* ``thread`` (uvicorn): from the main thread while the first run serves;
* ``before`` (uvicorn): before the first run starts (in time: no warning).

Prints one JSON line: whether the last request of the first and of the second run had state,
and every warning the shim emitted, as ``[category name, message]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import warnings
from typing import Any, Dict, List, Optional, TextIO, Tuple, Type, Union

import lifespan_state
from lifespan_state.check._probe import app as probe
from lifespan_state.check._runner import HOST, http_get, wait_for_port

caught: List[Tuple[str, str]] = []


def _record(
    message: Union[Warning, str],
    category: Type[Warning],
    filename: str,
    lineno: int,
    file: Optional[TextIO] = None,
    line: Optional[str] = None,
) -> None:
    caught.append((category.__name__, str(message)))


def make_app(server: str, where: str) -> Any:
    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/activate":
            lifespan_state.activate(server)
        if scope["type"] == "lifespan" and where == "lifespan":
            lifespan_state.activate(server)
        await probe(scope, receive, send)

    return app


def get(port: int, path: str) -> Dict[str, Any]:
    if not wait_for_port(HOST, port, 10.0):
        raise SystemExit("server did not answer")
    view: Dict[str, Any] = http_get(port, path).json()
    return view


def requests(port: int, where: str) -> Dict[str, Any]:
    """One run's requests: the activating ones (``request``), then the one whose view counts."""
    if where == "request":
        get(port, "/activate")
        get(port, "/activate")  # a second activation does not warn again
    return get(port, "/")


def uvicorn_run(app: Any, port: int, where: str, first: bool) -> Dict[str, Any]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        if first and where == "thread":
            lifespan_state.activate("uvicorn")
        return requests(port, where)
    finally:
        server.should_exit = True
        thread.join(10)


def hypercorn_run(app: Any, port: int, where: str, worker: str) -> Dict[str, Any]:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{HOST}:{port}"]
    if worker == "trio":
        import trio
        from hypercorn.trio import serve as trio_serve

        async def trio_main() -> Dict[str, Any]:
            async with trio.open_nursery() as nursery:
                stop = trio.Event()
                nursery.start_soon(lambda: trio_serve(app, config, shutdown_trigger=stop.wait))
                seen: Dict[str, Any] = await trio.to_thread.run_sync(requests, port, where)
                stop.set()
                return seen

        return trio.run(trio_main)  # type: ignore[no-any-return]
    from hypercorn.asyncio import serve

    async def main() -> Dict[str, Any]:
        stop = asyncio.Event()
        task = asyncio.ensure_future(serve(app, config, shutdown_trigger=stop.wait))
        seen = await asyncio.get_running_loop().run_in_executor(None, requests, port, where)
        stop.set()
        await task
        return seen

    return asyncio.run(main())


def main(server: str, where: str, port: int, worker: str) -> Dict[str, Any]:
    warnings.simplefilter("always")  # count every warning the shim emits, not one per location
    warnings.showwarning = _record
    app = make_app(server, where)
    if server == "uvicorn":
        import uvicorn  # noqa: F401 - the server is loaded before any activation

        if where == "before":
            lifespan_state.activate("uvicorn")
        views = [uvicorn_run(app, port, where, first) for first in (True, False)]
    else:
        views = [hypercorn_run(app, port, where, worker) for _ in range(2)]
    return {"first": views[0]["has_state"], "second": views[1]["has_state"], "warnings": caught}


if __name__ == "__main__":
    worker = sys.argv[4] if len(sys.argv) > 4 else "asyncio"
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), worker)))
