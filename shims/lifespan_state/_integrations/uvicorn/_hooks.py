"""uvicorn's hook code: lifespan state for uvicorn 0.11.0 and every release after it.

Modes (the descriptor's ranges, confirmed by the feature probe :func:`has_state`):

* add (0.11.0 - 0.20.0): uvicorn has no lifespan state; we add it.
* fix (0.21.0): uvicorn copies the lifespan dict once per server run and hands that one copy to
  every request (upstream #1902); we hand each request its own copy of the live dict.
* native (0.21.1 and later): uvicorn does it right; nothing is wrapped.

The one hook point is ``LifespanOn.__init__`` / ``LifespanOff.__init__`` (same module paths and
``(self, config)`` signature in every release). uvicorn creates the lifespan object once per server
run, after ``Config.load()`` and before any protocol exists, and every protocol reads
``config.loaded_app`` when a connection is made — so wrapping ``config.loaded_app`` in a fresh
StateApp there gives each run its own namespace, also when the app module itself activated the shim
from inside ``Config.load()``.
"""

from __future__ import annotations

from types import FrameType
from typing import Any, Dict, Sequence, Tuple

from ..._code_probes import names
from ..._core import put_in_front
from ..._shim import Decision, RunMarkers, Shim, Target
from . import INTEGRATION

__all__ = ["SHIM", "UvicornShim", "has_state"]


def _lifespan_init(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    config = args[0] if args else kwargs.get("config")
    # This server run's own namespace: uvicorn calls config.loaded_app for every connection, and
    # server.lifespan.state is the run's dict (0.21.0+; ours before).
    put_in_front(config, "loaded_app", instance)
    return result


_SERVER_METHODS = frozenset({"run", "serve", "_serve", "startup", "main_loop", "on_tick", "shutdown"})


def _server_started(frame: FrameType) -> bool:
    # uvicorn's Server sets ``self.lifespan`` in serve() right after Config.load(); before that
    # (an app module activating from inside Config.load) activation is still in time.
    if frame.f_code.co_name not in _SERVER_METHODS:
        return False
    server = frame.f_locals.get("self")
    return "lifespan" in getattr(server, "__dict__", {})


def has_state() -> bool:
    """Probe: does the lifespan object create ``self.state`` (uvicorn >= 0.21.0)?"""
    from uvicorn.lifespan.on import LifespanOn

    return "state" in names(LifespanOn.__init__)


class UvicornShim(Shim):
    integration = INTEGRATION
    late = RunMarkers(
        # Every run has created its lifespan object (LifespanOn or LifespanOff) by then.
        gates=("uvicorn.lifespan.on", "uvicorn.lifespan.off"),
        frames={
            "uvicorn.server": _server_started,  # 0.13+
            "uvicorn.main": _server_started,  # Server lived in uvicorn.main before 0.13
            "uvicorn.lifespan.": None,
            "uvicorn.protocols.": None,
        },
    )

    def targets(self, decision: Decision) -> Sequence[Target]:
        from uvicorn.lifespan.off import LifespanOff
        from uvicorn.lifespan.on import LifespanOn

        return [(LifespanOn, "__init__", _lifespan_init), (LifespanOff, "__init__", _lifespan_init)]


SHIM = UvicornShim()
