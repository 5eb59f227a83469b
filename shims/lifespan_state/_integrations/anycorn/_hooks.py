"""anycorn's hook code: lifespan state for anycorn (hypercorn 0.16's code on AnyIO) 0.17.0 and later.

Modes (the descriptor's ranges, confirmed by the probes :func:`has_state` and
:func:`copies_live_state_per_request`):

* add (0.17.0 - 0.17.2): anycorn has no lifespan state; we add it.
* fix (0.17.3 - 0.18.7): one copy of the lifespan dict per TCP connection (``TCPServer`` makes
  ``ConnectionState(self.state.copy())``, streams take ``event.state``): keep-alive requests and
  the streams of one HTTP/2 connection share it — hypercorn 0.17's bug.
* fix (0.19.0 - 0.19.3): per-request copies, but of a snapshot ``worker_serve`` took when the
  servers started (keys the lifespan adds later never reach requests, S7), and
  ``ProxyFixMiddleware`` deep-copies the scope, state included (a lock or a pool fails every
  request).
* fix (0.20.0 - 0.20.1, newest tested): ProxyFix copies shallowly now, the snapshot is still there.
* Releases newer than the newest tested are decided by the probes: per-request copies of the live
  dict (streams copy ``event.state`` and ``worker_serve`` copies nothing) are native.

Where the state goes in: every way anycorn serves (``python -m anycorn`` in the main process or
in spawned worker processes, ``anycorn.serve``) ends in ``worker_serve(app, config, *, sockets=None,
shutdown_trigger=None, ...)`` of ``anycorn.run`` (same name and signature from 0.17.0 to 0.20.1),
and the one ``app`` it receives is what ``Lifespan``, every TCP/UDP server and every stream call.
Wrapping that call puts one fresh :class:`~lifespan_state._core.StateApp` in front of the app per
server run, so each run has its own namespace and each request a fresh copy of the live dict —
whatever copies anycorn made underneath are replaced. ``anycorn/__init__.py`` imports
``worker_serve`` by name (``serve()`` calls that binding, ``anyio_worker`` the ``run`` module's),
so we wrap the binding in every anycorn module namespace that holds it, each with its own handle
in the PatchSet, which restores each exactly (as for hypercorn, whose code anycorn's is).
Rejected alternatives: ``Lifespan.__init__`` sees the app but the TCP servers receive
``worker_serve``'s local variable; ``TCPServer.__init__``/``ConnectionState`` would fix the copy per
connection but not the streams' per-request state or the snapshot; both moved between releases.
``ProxyFixMiddleware.__call__`` is wrapped on the class in place where it deep-copies (0.17 -
0.19), as for hypercorn (:func:`~lifespan_state._wrappers.proxy_fix_call`).
``DispatcherMiddleware`` is left as anycorn has it (0.20 added prefix rules of its own).
"""

from __future__ import annotations

import importlib
from types import FrameType
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ..._code_probes import names
from ..._core import owns_runs, unwrap_state_app
from ..._late import RunMarkers
from ..._patching import bindings
from ..._shim import Decision, Deferred, Shim, Target
from ..._wrappers import make_state_app, proxy_fix_call
from . import INTEGRATION

__all__ = ["SHIM", "AnycornShim", "copies_live_state_per_request", "has_state"]

SERVER = INTEGRATION.module


def _copies(module_name: str, owner: str, attribute: str) -> Optional[bool]:
    """Does ``module:owner.attribute`` call ``.copy()``? None when it is not in this release."""
    try:
        target: Any = importlib.import_module(module_name)
        if owner:
            target = getattr(target, owner)
        return "copy" in names(vars(target)[attribute] if owner else getattr(target, attribute))
    except (ImportError, AttributeError, KeyError):
        return None


def copies_live_state_per_request() -> bool:
    """Probe: streams copy per request *and* ``worker_serve`` hands servers the live dict."""
    streams = (
        _copies("anycorn.protocol.http_stream", "HTTPStream", "handle"),
        _copies("anycorn.protocol.ws_stream", "WSStream", "handle"),
    )
    # worker_serve's own .copy() is the startup snapshot (0.17.3 - 0.20.1); None (moved) counts
    # as a copy: fixing a correct server is harmless.
    snapshot = _copies("anycorn.run", "", "worker_serve") is not False
    return all(streams) and not snapshot


#: anycorn's WSGI wrapper: WSGI apps have no lifespan and no scope state.
_wsgi_types: Tuple[type, ...] = ()


def _worker_serve(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """wrapt wrapper of ``worker_serve``: this run's app gets a fresh StateApp in front of it."""
    if not SHIM.active:
        return wrapped(*args, **kwargs)  # a reference kept past unpatch(): the original
    app = unwrap_state_app(args[0] if args else kwargs.get("app"))
    if _wsgi_types and isinstance(app, _wsgi_types):
        return wrapped(*args, **kwargs)
    if owns_runs(app):
        return wrapped(*args, **kwargs)  # LifespanStateMiddleware keeps each run's state itself
    # anycorn calls its wrapped app with (scope, receive, send, sync_spawn, call_soon): the
    # plain StateApp passes the extra arguments through.
    state_app = make_state_app(app, None)
    if args:
        return wrapped(state_app, *args[1:], **kwargs)
    return wrapped(**dict(kwargs, app=state_app))


def _proxy_fix_targets(decision: Decision) -> Sequence[Target]:
    module = importlib.import_module("anycorn.middleware.proxy_fix")
    middleware = module.ProxyFixMiddleware
    if "deepcopy" not in names(vars(middleware)["__call__"]):
        return []  # 0.20.0+: a shallow copy, the state is the lifespan's objects already
    return [(middleware, "__call__", proxy_fix_call)]


def _serving(frame: FrameType) -> bool:
    # worker_serve hands its app to Lifespan and the servers; anyio_worker loads the app first,
    # which is in time.
    return frame.f_code.co_name == "worker_serve"


def has_state() -> bool:
    """Probe: anycorn >= 0.17.3 defines ``anycorn.typing.LifespanState``."""
    return bool(hasattr(importlib.import_module("anycorn.typing"), "LifespanState"))


class AnycornShim(Shim):
    """anycorn's ``worker_serve``: one StateApp per server run (see the module docstring)."""

    integration = INTEGRATION
    late = RunMarkers(
        gates=("anycorn.lifespan",),
        frames={
            "anycorn.run": _serving,
            "anycorn.lifespan": None,
            "anycorn.task_group": None,
            "anycorn.protocol.": None,
        },
    )

    def targets(self, decision: Decision) -> Sequence[Target]:
        global _wsgi_types
        run = importlib.import_module("anycorn.run")
        wrappers = importlib.import_module("anycorn.app_wrappers")
        wsgi = getattr(wrappers, "WSGIWrapper", None)
        _wsgi_types = (wsgi,) if isinstance(wsgi, type) else ()
        original = vars(run)["worker_serve"]
        return [(module, attribute, _worker_serve) for module, attribute in bindings(SERVER, original)]

    def deferred(self) -> Mapping[str, Deferred]:
        module = "anycorn.middleware.proxy_fix"
        return {module: Deferred(self.integration.later[module], _proxy_fix_targets)}


SHIM = AnycornShim()
