"""The uvicorn shim: lifespan state for uvicorn 0.11.0 and every release after it.

Modes (from distribution metadata, confirmed by a feature probe):

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

import logging
from typing import Any, Dict, Optional, Tuple

from packaging.version import Version

from ._core import StateApp, unwrap_state_app
from ._late import warn_if_too_late
from ._patching import PatchSet
from ._versions import decide_mode as _decide_mode

__all__ = ["SERVER", "decide_mode", "is_patched", "patch", "status", "unpatch"]

SERVER = "uvicorn"
logger = logging.getLogger("lifespan_state")

_patches = PatchSet()
_decision: Dict[str, Any] = {}




def _has_native_state() -> bool:
    """Probe: does the lifespan object create ``self.state`` (uvicorn >= 0.21.0)?"""
    from uvicorn.lifespan.on import LifespanOn

    init = getattr(LifespanOn.__init__, "__wrapped__", LifespanOn.__init__)
    code = getattr(init, "__code__", None)
    return code is not None and "state" in code.co_names


def decide_mode() -> Tuple[str, str, Optional[Version]]:
    """(mode, why, version) for the uvicorn in this process; raises when unsupported."""
    return _decide_mode(SERVER, _has_native_state())


def _attach(lifespan: Any, config: Any) -> None:
    """Give this server run its own namespace: one StateApp in front of the loaded app."""
    app = getattr(config, "loaded_app", None)
    if app is None:  # a lifespan built on an unloaded Config: uvicorn itself never does that
        return
    state = getattr(lifespan, "state", None)
    if not isinstance(state, dict):
        # add mode: ``server.lifespan.state`` then means what it means natively (0.21.1).
        state = {}
        lifespan.state = state
    # uvicorn always calls app(scope, receive, send): the function form is the cheaper call.
    config.loaded_app = StateApp(unwrap_state_app(app), state).asgi3()


def _lifespan_init(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    config = args[0] if args else kwargs.get("config")
    _attach(instance, config)
    return result


def patch() -> None:
    """Install the shim for the imported uvicorn (does nothing on a native release)."""
    if _patches or _decision.get("mode") == "native":
        return
    mode, why, version = decide_mode()
    _decision.update(mode=mode, why=why, version=str(version) if version else None)
    if mode == "native":
        logger.debug("lifespan-state-shim: uvicorn %s is native (%s); nothing wrapped", version, why)
        return
    from uvicorn.lifespan.off import LifespanOff
    from uvicorn.lifespan.on import LifespanOn

    _patches.apply([(LifespanOn, "__init__", _lifespan_init), (LifespanOff, "__init__", _lifespan_init)])
    logger.debug("lifespan-state-shim: uvicorn %s patched in %s mode (%s)", version, mode, why)
    # A run whose lifespan already exists is past our hook point: tell the user, once.
    warn_if_too_late(SERVER)


def unpatch() -> None:
    _patches.restore()
    _decision.clear()


def is_patched() -> bool:
    return bool(_patches) or _decision.get("mode") == "native"


def status() -> Dict[str, Any]:
    return {
        "mode": _decision.get("mode"),
        "reason": _decision.get("why", ""),
        "version": _decision.get("version"),
        "patched": list(_patches.labels),
    }
