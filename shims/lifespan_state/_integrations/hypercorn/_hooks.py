"""hypercorn's hook code: lifespan state for hypercorn 0.11.0 and every release after it.

Modes (the descriptor's ranges, confirmed by the feature probe :func:`has_state`):

* add (0.11.0 - 0.16.x): hypercorn has no lifespan state; we add it.
* fix (0.17.x): hypercorn copies the lifespan dict once per TCP connection (keep-alive requests
  and every HTTP/2 stream share it) and once per UDP socket for HTTP/3 (upstream #274); we hand
  each request its own copy of the live dict.
* fix (0.18.0): per-request copies, but the trio worker and HTTP/3 copy a snapshot taken at
  startup (keys the lifespan adds later never reach requests, CONFORMANCE S7). We fix only that:
  trio runs and asyncio runs that serve HTTP/3 get our per-request copies; an asyncio run without
  HTTP/3 is left to hypercorn.
* Releases newer than the newest tested are decided by the same probes, per worker flavour.

What each worker flavour (asyncio, trio) needs within "fix" is not a second decision of the mode:
it is *where* the wraps go (:func:`_flavour_needs`, computed once when the flavour's module is
imported), reported per flavour in ``status()``.

Where the state goes in. Every way hypercorn serves (the CLI's asyncio/uvloop/trio workers,
``hypercorn.asyncio.serve`` / ``hypercorn.trio.serve``, in the main process or in spawned worker
processes) ends in ``worker_serve(app, config, *, sockets=None, shutdown_trigger=None, ...)`` of
``hypercorn.{asyncio,trio}.run`` — same name and signature in 0.11 - 0.18 — and the one ``app``
it receives is what ``Lifespan`` and every TCP/UDP server, h11/h2/h3 protocol and stream call.
Wrapping that call puts one fresh :class:`~lifespan_state._core.StateApp` in front of the app
per server run, so each run has its own namespace.

``worker_serve`` is a module-level function, and ``hypercorn.{asyncio,trio}/__init__.py`` import
it by name (``serve()`` calls the package's binding, the CLI workers the ``run`` module's). The
house rule is not to rebind a global that other modules already imported; here the only holders
are hypercorn's own modules, so we wrap the binding in *every* hypercorn module namespace that
holds the function, each with its own handle in the PatchSet, which restores each binding
exactly. We wrap when ``hypercorn.asyncio`` / ``hypercorn.trio`` has finished importing (both of
its bindings exist by then, and trio is never imported by us). The alternatives were worse:
``Lifespan.__init__`` sees the app but the TCP/UDP servers get ``worker_serve``'s local variable,
and no per-run object links the two; matching them by app identity breaks when two runs serve
one app. A reference someone took before activation is not reached (activate first, as
``import lifespan_state.auto`` in the app module does); a wrapper someone kept after
``unpatch()`` passes straight through.

Two middlewares get class-level fixes (wrapped in place, restored exactly):
``ProxyFixMiddleware.__call__`` (0.16+) deep-copies the scope, state included — a lock or pool in
the state fails every request; and ``DispatcherMiddleware`` hands one lifespan state to every
mounted app; see :mod:`lifespan_state._wrappers`.
"""

from __future__ import annotations

import importlib
import sys
from types import FrameType
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from ..._code_probes import names
from ..._core import owns_runs, unwrap_state_app
from ..._patching import bindings
from ..._shim import Decision, Deferred, RunMarkers, Shim, Target
from ..._wrappers import dispatcher_call, make_state_app, proxy_fix_call
from . import INTEGRATION

__all__ = ["SHIM", "HypercornShim", "has_state"]

SERVER = INTEGRATION.module

# What a worker flavour needs, decided once per flavour when its module is imported.
EVERY_RUN = "every run"
QUIC_RUNS = "runs serving HTTP/3"
NOTHING = "nothing (hypercorn copies the live state per request)"


# --------------------------------------------------------------------------- probes


def _copies(owner: str, attribute: str) -> Optional[bool]:
    """Does ``owner.attribute`` call ``.copy()``? None when it does not exist in this release."""
    try:
        module_name, _, class_name = owner.partition(":")
        target: Any = importlib.import_module(module_name)
        if class_name:
            target = getattr(target, class_name)
        return "copy" in names(getattr(target, attribute))
    except (ImportError, AttributeError):
        return None


def _per_request_copies() -> bool:
    """Probe: streams copy the connection's state per request (0.18.0: ``event.state.copy()``)."""
    http = _copies("hypercorn.protocol.http_stream:HTTPStream", "handle")
    ws = _copies("hypercorn.protocol.ws_stream:WSStream", "handle")
    return bool(http) and bool(ws)


def _flavour_needs(flavour: str, decision: Decision) -> str:
    """What runs of the asyncio or trio worker need from us (probes, computed once per flavour).

    With per-request copies, a worker still serves a stale snapshot where it hands a *copy* of
    the lifespan dict to its TCP or UDP servers (0.18.0: trio's ``worker_serve`` and both
    ``UDPServer.run``) instead of the live dict.
    """
    if decision.mode == "add" or not _per_request_copies():
        return EVERY_RUN
    package = f"hypercorn.{flavour}"
    tcp = (_copies(f"{package}.run", "worker_serve"), _copies(f"{package}.tcp_server:TCPServer", "run"))
    # None (cannot tell: the code moved) counts as "copies": fixing a correct path is harmless.
    if any(copies is not False for copies in tcp):
        return EVERY_RUN
    if _copies(f"{package}.udp_server:UDPServer", "run") is not False:
        return QUIC_RUNS
    return NOTHING


# --------------------------------------------------------------------------- sites


def _serves_quic(config: Any, sockets: Any) -> bool:
    if sockets is not None:
        return bool(getattr(sockets, "quic_sockets", None))
    return bool(getattr(config, "quic_bind", None))


def _worker_serving(frame: FrameType) -> bool:
    # hypercorn hands its app to Lifespan and the servers inside worker_serve(); the worker
    # functions around it (asyncio_worker, trio_worker) load the app first, which is in time.
    return frame.f_code.co_name == "worker_serve"


def has_state() -> bool:
    """Probe: hypercorn >= 0.17.0 defines ``hypercorn.typing.LifespanState``."""
    return hasattr(importlib.import_module("hypercorn.typing"), "LifespanState")


class HypercornShim(Shim):
    integration = INTEGRATION
    late = RunMarkers(
        gates=("hypercorn.asyncio.lifespan", "hypercorn.trio.lifespan"),
        frames={
            "hypercorn.asyncio.run": _worker_serving,
            "hypercorn.trio.run": _worker_serving,
            "hypercorn.asyncio.lifespan": None,
            "hypercorn.trio.lifespan": None,
            # Each request's app call runs in a task of its own started here (0.12+); under
            # trio the suspended worker_serve task is not reachable from the running one.
            "hypercorn.asyncio.task_group": None,
            "hypercorn.trio.task_group": None,
            "hypercorn.protocol.": None,
        },
    )

    def __init__(self) -> None:
        super().__init__()
        #: hypercorn < 0.14 only: its own ASGI 2/3 test (``hypercorn.utils._is_asgi_2``).
        self._is_asgi2: Optional[Callable[[Any], bool]] = None
        #: hypercorn >= 0.14: WSGI apps arrive as ``WSGIWrapper`` and are left untouched.
        self._wsgi_types: Tuple[type, ...] = ()
        #: flavour -> what its runs need (EVERY_RUN, QUIC_RUNS, NOTHING), once imported.
        self._workers: Dict[str, str] = {}

    def targets(self, decision: Decision) -> Sequence[Target]:
        # Nothing to wrap in hypercorn's top-level package: every wrap is in a submodule the
        # user may import later (deferred). Here, the facts every wrapper reads, looked up once.
        self._load_release_facts()
        return []

    def deferred(self) -> Mapping[str, Deferred]:
        later = self.integration.later
        return {
            "hypercorn.asyncio": Deferred(
                later["hypercorn.asyncio"], lambda decision: self._worker_targets("asyncio", decision)
            ),
            "hypercorn.trio": Deferred(
                later["hypercorn.trio"], lambda decision: self._worker_targets("trio", decision)
            ),
            "hypercorn.middleware.proxy_fix": Deferred(
                later["hypercorn.middleware.proxy_fix"], lambda decision: self._proxy_fix_targets()
            ),
            "hypercorn.middleware.dispatcher": Deferred(
                later["hypercorn.middleware.dispatcher"], lambda decision: self._dispatcher_targets()
            ),
        }

    def details(self) -> Dict[str, Any]:
        if not self.active:
            return {"workers": {}}
        workers = dict(self._workers)
        for flavour in ("asyncio", "trio"):
            workers.setdefault(flavour, f"decided when hypercorn.{flavour} is imported")
        return {"workers": workers}

    def reset(self) -> None:
        self._workers.clear()

    # ----------------------------------------------------------------------- release facts

    def _load_release_facts(self) -> None:
        utils = importlib.import_module("hypercorn.utils")
        # hypercorn < 0.14 passes the raw app around and calls it through invoke_asgi, which
        # picks ASGI 2 or 3 with _is_asgi_2: our StateApp must take the shape that test expects.
        self._is_asgi2 = None
        if hasattr(utils, "invoke_asgi"):
            self._is_asgi2 = getattr(utils, "_is_asgi_2", None)
            if self._is_asgi2 is None:
                raise RuntimeError("hypercorn.utils has invoke_asgi but no _is_asgi_2")
        wrappers = sys.modules.get("hypercorn.app_wrappers")
        if wrappers is None and hasattr(utils, "wrap_app"):
            wrappers = importlib.import_module("hypercorn.app_wrappers")
        wsgi = getattr(wrappers, "WSGIWrapper", None) if wrappers is not None else None
        self._wsgi_types = (wsgi,) if isinstance(wsgi, type) else ()

    # ----------------------------------------------------------------------- the wraps

    def _worker_serve_wrapper(self, needs: str) -> Callable[..., Any]:
        """wrapt wrapper of ``worker_serve``: this run's app gets a fresh StateApp in front."""
        shim = self

        def wrapper(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
            if not shim.active:
                # Someone kept a reference to our wrapper past unpatch(): behave like the original.
                return wrapped(*args, **kwargs)
            app = args[0] if args else kwargs.get("app")
            if needs == QUIC_RUNS:
                config = args[1] if len(args) > 1 else kwargs.get("config")
                if not _serves_quic(config, kwargs.get("sockets")):
                    return wrapped(*args, **kwargs)
            app = unwrap_state_app(app)
            if shim._wsgi_types and isinstance(app, shim._wsgi_types):
                return wrapped(*args, **kwargs)  # WSGI apps have no lifespan and no scope state
            if owns_runs(app):
                return wrapped(*args, **kwargs)  # LifespanStateMiddleware keeps each run's state itself
            state_app = make_state_app(app, shim._is_asgi2)
            if args:
                return wrapped(state_app, *args[1:], **kwargs)
            return wrapped(*args, **dict(kwargs, app=state_app))

        return wrapper

    def _worker_targets(self, flavour: str, decision: Decision) -> Sequence[Target]:
        run = importlib.import_module(f"hypercorn.{flavour}.run")
        needs = _flavour_needs(flavour, decision)
        self._workers[flavour] = needs
        if needs == NOTHING:
            return []
        original = vars(run)["worker_serve"]
        wrapper = self._worker_serve_wrapper(needs)
        return [(module, attribute, wrapper) for module, attribute in bindings(SERVER, original)]

    def _proxy_fix_targets(self) -> Sequence[Target]:
        module = importlib.import_module("hypercorn.middleware.proxy_fix")
        middleware = module.ProxyFixMiddleware
        if "deepcopy" not in names(vars(middleware)["__call__"]):
            return []  # a release that stopped deep-copying the scope
        return [(middleware, "__call__", proxy_fix_call)]

    def _dispatcher_targets(self) -> Sequence[Target]:
        module = importlib.import_module("hypercorn.middleware.dispatcher")
        base = getattr(module, "_DispatcherMiddleware", None)
        if base is None or "__call__" not in vars(base):
            return []  # a release that reshaped the dispatcher: leave it as it is
        return [(base, "__call__", dispatcher_call(self._is_asgi2))]


SHIM = HypercornShim()
