"""Telling the user when activation came too late for a server run that is already going.

A shim's wraps act when a server run *starts* (uvicorn creates its lifespan object, hypercorn
enters ``worker_serve``). A run that started before the shim was activated — activation from a
request handler, from the lifespan itself, from a module imported lazily by either, or from
another thread while a server runs — goes on without lifespan state. That cannot be repaired
(the run's objects already exist), but it can be told: once per server and process, with
:class:`ActivationTooLateWarning` and what to do instead.

Kept cheap: it runs once, right after a shim installed its wraps; it looks only when one of the
server's lifespan modules is imported (a run has a lifespan by then), and only at frames —
the current thread's stack, the other threads' stacks and the await chains of the tasks of the
event loop running in this thread (a server's main task is suspended there while a handler
runs). No ``gc`` walk. A shim calls :func:`warn_if_too_late` with its server's name; the frames
that prove a run in progress are described per server in ``_RUNS`` (module names only: nothing
here imports a server).
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType
from typing import Any, Callable, Dict, Iterator, Optional, Set, Tuple

from ._errors import ActivationTooLateWarning

__all__ = ["run_in_progress", "too_late_message", "warn_if_too_late"]

#: A predicate on a frame of a marker module: does this frame prove a run past its start?
#: None: any frame of that module does.
Started = Optional[Callable[[FrameType], bool]]

_SERVER_METHODS = frozenset({"run", "serve", "_serve", "startup", "main_loop", "on_tick", "shutdown"})


def _uvicorn_server_started(frame: FrameType) -> bool:
    # uvicorn's Server sets ``self.lifespan`` in serve() right after Config.load(); before that
    # (an app module activating from inside Config.load) activation is still in time.
    if frame.f_code.co_name not in _SERVER_METHODS:
        return False
    server = frame.f_locals.get("self")
    return "lifespan" in getattr(server, "__dict__", {})


def _hypercorn_worker_serving(frame: FrameType) -> bool:
    # hypercorn hands its app to Lifespan and the servers inside worker_serve(); the worker
    # functions around it (asyncio_worker, trio_worker) load the app first, which is in time.
    return frame.f_code.co_name == "worker_serve"


#: server -> (module name or package prefix ending with ".") -> Started.
_RUNS: Dict[str, Dict[str, Started]] = {
    "uvicorn": {
        "uvicorn.server": _uvicorn_server_started,  # 0.13+
        "uvicorn.main": _uvicorn_server_started,  # Server lived in uvicorn.main before 0.13
        "uvicorn.lifespan.": None,
        "uvicorn.protocols.": None,
    },
    "hypercorn": {
        "hypercorn.asyncio.run": _hypercorn_worker_serving,
        "hypercorn.trio.run": _hypercorn_worker_serving,
        "hypercorn.asyncio.lifespan": None,
        "hypercorn.trio.lifespan": None,
        # Each request's app call runs in a task of its own started here (0.12+); under trio the
        # suspended worker_serve task is not reachable from the running one.
        "hypercorn.asyncio.task_group": None,
        "hypercorn.trio.task_group": None,
        "hypercorn.protocol.": None,
    },
}

#: server -> modules one of which every run has imported by the time it has a lifespan. Until
#: then there is nothing to look for (the usual case: a shim patching at ``import uvicorn``).
_GATES: Dict[str, Tuple[str, ...]] = {
    "uvicorn": ("uvicorn.lifespan.on", "uvicorn.lifespan.off"),
    "hypercorn": ("hypercorn.asyncio.lifespan", "hypercorn.trio.lifespan"),
}

_MAX_DEPTH = 256
_warned: Set[str] = set()


def _stacks() -> Iterator[FrameType]:
    """Every frame of every thread's stack, then of the current loop's suspended tasks."""
    for top in list(sys._current_frames().values()):
        frame: Optional[FrameType] = top
        depth = 0
        while frame is not None and depth < _MAX_DEPTH:
            yield frame
            frame = frame.f_back
            depth += 1
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return
    try:
        loop = asyncio._get_running_loop()
        tasks = list(asyncio.all_tasks(loop)) if loop is not None else []
    except Exception:
        return
    for task in tasks:
        awaitable: Any = task.get_coro()
        depth = 0
        while awaitable is not None and depth < _MAX_DEPTH:
            frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
            if frame is not None:
                yield frame
            awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
            depth += 1


def _match(module: str, markers: Dict[str, Started]) -> Tuple[bool, Started]:
    found = markers.get(module, ...)
    if found is not ...:
        return True, found  # type: ignore[return-value]
    for prefix, started in markers.items():
        if prefix.endswith(".") and module.startswith(prefix):
            return True, started
    return False, None


def run_in_progress(server: str) -> bool:
    """True when this process holds a ``server`` run that is past the point a shim hooks into."""
    markers = _RUNS.get(server)
    if not markers:
        return False
    # Cheap exit: no run has a lifespan before its lifespan module is imported.
    if not any(name in sys.modules for name in _GATES.get(server, ())):
        return False
    for frame in _stacks():
        module = frame.f_globals.get("__name__")
        if not isinstance(module, str) or not module.startswith(server):
            continue
        matched, started = _match(module, markers)
        if not matched:
            continue
        try:
            if started is None or started(frame):
                return True
        except Exception:  # a frame we cannot read proves nothing
            continue
    return False


def too_late_message(server: str) -> str:
    return (
        f"lifespan-state-shim was activated after a {server} server run in this process had "
        f"already loaded its application: that run goes on as {server} alone runs it (no "
        f"lifespan state, scope['state'], on releases without it); runs started afterwards get "
        f"the shim. Activate before the server loads "
        f"the app: `import lifespan_state.auto` at the top of the app module, start the server "
        f"with `lifespan-state run -- {server} ...`, or serve `lifespan_state.factory:create_app` "
        f"with LIFESPAN_STATE_APP=module:app."
    )


def warn_if_too_late(server: str) -> bool:
    """Warn once (per server and process) if a ``server`` run predates activation.

    Shims call this right after installing their wraps; it never raises.
    """
    if server in _warned:
        return False
    try:
        late = run_in_progress(server)
    except Exception:
        return False
    if late:
        _warned.add(server)
        warnings.warn(too_late_message(server), ActivationTooLateWarning, stacklevel=2)
    return late
