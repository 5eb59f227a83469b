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
runs). No ``gc`` walk. What proves a run in progress is a fact about one server's call stack, so
each shim supplies it as :class:`RunMarkers` (module names and frame predicates); nothing here
knows a server or imports one.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from types import FrameType
from typing import Any, Callable, Iterator, Mapping, Optional, Set, Tuple

from ._errors import ActivationTooLateWarning

__all__ = ["RunMarkers", "Started", "run_in_progress", "too_late_message", "warn_if_too_late"]

#: A predicate on a frame of a marker module: does this frame prove a run past its start?
#: None: any frame of that module does.
Started = Optional[Callable[[FrameType], bool]]


@dataclass(frozen=True)
class RunMarkers:
    """The frames that prove a server run is past the point where a shim hooks in."""

    #: Modules one of which every run has imported by the time it has a lifespan. Until then
    #: there is nothing to look for (the usual case: a shim patching at the server's import).
    gates: Tuple[str, ...]
    #: Module name (or package prefix ending with ".") -> what a frame of it proves.
    frames: Mapping[str, Started]


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


def _match(module: str, markers: Mapping[str, Started]) -> Tuple[bool, Started]:
    found = markers.get(module, ...)
    if found is not ...:
        return True, found  # type: ignore[return-value]
    for prefix, started in markers.items():
        if prefix.endswith(".") and module.startswith(prefix):
            return True, started
    return False, None


def run_in_progress(server: str, markers: RunMarkers) -> bool:
    """True when this process holds a ``server`` run that is past the point a shim hooks into."""
    # Cheap exit: no run has a lifespan before its lifespan module is imported.
    if not markers.frames or not any(name in sys.modules for name in markers.gates):
        return False
    prefix = _package(markers)
    for frame in _stacks():
        module = frame.f_globals.get("__name__")
        if not isinstance(module, str) or not module.startswith(prefix):
            continue
        matched, started = _match(module, markers.frames)
        if not matched:
            continue
        try:
            if started is None or started(frame):
                return True
        except Exception:  # a frame we cannot read proves nothing
            continue
    return False


def _package(markers: RunMarkers) -> str:
    """The common top-level package of the marker modules: frames elsewhere are skipped fast."""
    tops = {name.partition(".")[0] for name in markers.frames}
    return tops.pop() if len(tops) == 1 else ""


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


def warn_if_too_late(server: str, markers: Optional[RunMarkers]) -> bool:
    """Warn once (per server and process) if a ``server`` run predates activation.

    The shim base calls this right after installing a shim's wraps; it never raises.
    """
    if server in _warned or markers is None:
        return False
    try:
        late = run_in_progress(server, markers)
    except Exception:
        return False
    if late:
        _warned.add(server)
        warnings.warn(too_late_message(server), ActivationTooLateWarning, stacklevel=2)
    return late
