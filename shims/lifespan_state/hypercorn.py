"""The hypercorn shim: lifespan state for hypercorn 0.11.0 and every release after it.

Modes (from distribution metadata, confirmed by feature probes):

* add (0.11.0 - 0.16.x): hypercorn has no lifespan state; we add it.
* fix (0.17.x): hypercorn copies the lifespan dict once per TCP connection (keep-alive requests
  and every HTTP/2 stream share it) and once per UDP socket for HTTP/3 (upstream #274); we hand
  each request its own copy of the live dict.
* fix (0.18.0): per-request copies, but the trio worker and HTTP/3 copy a snapshot taken at
  startup (keys the lifespan adds later never reach requests, CONFORMANCE S7). We fix only that:
  trio runs and asyncio runs that serve HTTP/3 get our per-request copies; an asyncio run without
  HTTP/3 is left to hypercorn.
* Releases newer than the newest tested are decided by the same probes, per worker flavour.

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
mounted app; see :mod:`lifespan_state._hypercorn_apps`.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

import wrapt
from packaging.version import Version

from ._core import unwrap_state_app
from ._hypercorn_apps import dispatcher_call, make_state_app, proxy_fix_call
from ._late import warn_if_too_late
from ._patching import PatchSet
from ._versions import decide_mode as _decide_mode

__all__ = ["SERVER", "decide_mode", "is_patched", "patch", "status", "unpatch"]

SERVER = "hypercorn"
logger = logging.getLogger("lifespan_state")

Target = Tuple[Any, str, Callable[..., Any]]

_patches = PatchSet()
_decision: Dict[str, Any] = {}
#: The post-import hooks below cannot be unregistered: they do nothing unless this is True.
_active = False
#: Sites whose wraps are in ``_patches`` (module names), and modules we registered a hook for.
_applied: Set[str] = set()
_hooked: Set[str] = set()
#: hypercorn < 0.14 only: its own ASGI 2/3 test (``hypercorn.utils._is_asgi_2``); None from 0.14.
_is_asgi2: Optional[Callable[[Any], bool]] = None
#: hypercorn >= 0.14: WSGI apps arrive as ``WSGIWrapper`` and are left untouched.
_wsgi_types: Tuple[type, ...] = ()

# What a worker flavour needs, decided once per flavour when its module is imported.
EVERY_RUN = "every run"
QUIC_RUNS = "runs serving HTTP/3"
NOTHING = "nothing (hypercorn copies the live state per request)"


# --------------------------------------------------------------------------- versions & probes




def _has_native_state() -> bool:
    """Probe: hypercorn >= 0.17.0 defines ``hypercorn.typing.LifespanState``."""
    typing_module = importlib.import_module("hypercorn.typing")
    return hasattr(typing_module, "LifespanState")


def _names(function: Any) -> Set[str]:
    """Every name a function's code (nested functions included) looks up as an attribute/global."""
    function = inspect.unwrap(function)
    code = getattr(function, "__code__", None)
    found: Set[str] = set()
    stack = [code] if code is not None else []
    while stack:
        current = stack.pop()
        found.update(current.co_names)
        stack.extend(c for c in current.co_consts if inspect.iscode(c))
    return found


def _copies(owner: str, attribute: str) -> Optional[bool]:
    """Does ``owner.attribute`` call ``.copy()``? None when it does not exist in this release."""
    try:
        module_name, _, class_name = owner.partition(":")
        target: Any = importlib.import_module(module_name)
        if class_name:
            target = getattr(target, class_name)
        return "copy" in _names(getattr(target, attribute))
    except (ImportError, AttributeError):
        return None


def _per_request_copies() -> bool:
    """Probe: streams copy the connection's state per request (0.18.0: ``event.state.copy()``)."""
    http = _copies("hypercorn.protocol.http_stream:HTTPStream", "handle")
    ws = _copies("hypercorn.protocol.ws_stream:WSStream", "handle")
    return bool(http) and bool(ws)


def _flavour_needs(flavour: str) -> str:
    """What runs of the asyncio or trio worker need from us (probes, computed once per flavour).

    With per-request copies, a worker still serves a stale snapshot where it hands a *copy* of
    the lifespan dict to its TCP or UDP servers (0.18.0: trio's ``worker_serve`` and both
    ``UDPServer.run``) instead of the live dict.
    """
    if _decision.get("mode") == "add" or not _per_request_copies():
        return EVERY_RUN
    package = f"hypercorn.{flavour}"
    tcp = (_copies(f"{package}.run", "worker_serve"), _copies(f"{package}.tcp_server:TCPServer", "run"))
    # None (cannot tell: the code moved) counts as "copies": fixing a correct path is harmless.
    if any(copies is not False for copies in tcp):
        return EVERY_RUN
    if _copies(f"{package}.udp_server:UDPServer", "run") is not False:
        return QUIC_RUNS
    return NOTHING


def decide_mode() -> Tuple[str, str, Optional[Version]]:
    """(mode, why, version) for the hypercorn in this process; raises when unsupported."""
    return _decide_mode(SERVER, _has_native_state())


# --------------------------------------------------------------------------- the wrappers


def _serves_quic(config: Any, sockets: Any) -> bool:
    if sockets is not None:
        return bool(getattr(sockets, "quic_sockets", None))
    return bool(getattr(config, "quic_bind", None))


def _worker_serve_wrapper(needs: str) -> Callable[..., Any]:
    """wrapt wrapper of ``worker_serve``: this run's app gets a fresh StateApp in front of it."""

    def wrapper(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        if not _active:
            # Someone kept a reference to our wrapper past unpatch(): behave like the original.
            return wrapped(*args, **kwargs)
        app = args[0] if args else kwargs.get("app")
        if needs == QUIC_RUNS:
            config = args[1] if len(args) > 1 else kwargs.get("config")
            if not _serves_quic(config, kwargs.get("sockets")):
                return wrapped(*args, **kwargs)
        app = unwrap_state_app(app)
        if _wsgi_types and isinstance(app, _wsgi_types):
            return wrapped(*args, **kwargs)  # WSGI apps have no lifespan and no scope state
        state_app = make_state_app(app, _is_asgi2)
        if args:
            return wrapped(state_app, *args[1:], **kwargs)
        return wrapped(*args, **dict(kwargs, app=state_app))

    return wrapper


# --------------------------------------------------------------------------- sites


def _innermost(obj: Any) -> Any:
    """The function at the bottom of a chain of ``__wrapped__`` links (bounded: cycles exist)."""
    for _ in range(64):
        inner = getattr(obj, "__wrapped__", None)
        if inner is None:
            return obj
        obj = inner
    return obj


def _holders(original: Any) -> Iterable[Tuple[Any, str]]:
    """Every (hypercorn module, name) binding ``original`` — the re-exports included.

    A binding another tool (a tracing agent) already wrapped is matched by what it wraps, not by
    identity: we then wrap the agent's wrapper, so runs reaching hypercorn through it get state too.
    """
    target = _innermost(original)
    for name, module in list(sys.modules.items()):
        if module is None or not (name == SERVER or name.startswith(SERVER + ".")):
            continue
        for attribute, value in list(vars(module).items()):
            if value is original or (callable(value) and _innermost(value) is target):
                yield module, attribute


def _worker_targets(flavour: str) -> List[Target]:
    run = importlib.import_module(f"hypercorn.{flavour}.run")
    needs = _flavour_needs(flavour)
    _decision.setdefault("workers", {})[flavour] = needs
    if needs == NOTHING:
        return []
    original = vars(run)["worker_serve"]
    wrapper = _worker_serve_wrapper(needs)
    return [(module, attribute, wrapper) for module, attribute in _holders(original)]


def _proxy_fix_targets() -> List[Target]:
    module = importlib.import_module("hypercorn.middleware.proxy_fix")
    middleware = module.ProxyFixMiddleware
    if "deepcopy" not in _names(vars(middleware)["__call__"]):
        return []  # a release that stopped deep-copying the scope
    return [(middleware, "__call__", proxy_fix_call)]


def _dispatcher_targets() -> List[Target]:
    module = importlib.import_module("hypercorn.middleware.dispatcher")
    base = getattr(module, "_DispatcherMiddleware", None)
    if base is None or "__call__" not in vars(base):
        return []  # a release that reshaped the dispatcher: leave it as it is
    return [(base, "__call__", dispatcher_call(_is_asgi2))]


#: module that must have been imported -> the wraps to make then.
_SITES: Dict[str, Callable[[], List[Target]]] = {
    "hypercorn.asyncio": lambda: _worker_targets("asyncio"),
    "hypercorn.trio": lambda: _worker_targets("trio"),
    "hypercorn.middleware.proxy_fix": _proxy_fix_targets,
    "hypercorn.middleware.dispatcher": _dispatcher_targets,
}


def _on_site_import(module: Any) -> None:
    # Runs inside the user's import of a hypercorn module: it must never raise.
    name = getattr(module, "__name__", "")
    if not _active or name in _applied or name not in _SITES:
        return
    try:
        targets = _SITES[name]()
        _patches.apply(targets)
        _applied.add(name)
    except Exception as exc:
        # Never a half-patched server: take every wrap out again.
        _disable()
        logger.warning(
            "lifespan-state-shim: patching %s failed (%s: %s); hypercorn was left unchanged. "
            "Please report this with the output of `lifespan-state status`.",
            name,
            type(exc).__name__,
            exc,
        )
        _decision["why"] = f"patching {name} failed: {type(exc).__name__}: {exc}"


def _load_release_facts() -> None:
    """Module-level facts the wrappers read on every run (looked up once, not per call)."""
    global _is_asgi2, _wsgi_types
    utils = importlib.import_module("hypercorn.utils")
    # hypercorn < 0.14 passes the raw app around and calls it through invoke_asgi, which picks
    # ASGI 2 or 3 with _is_asgi_2: our StateApp must take the shape that test expects.
    _is_asgi2 = None
    if hasattr(utils, "invoke_asgi"):
        _is_asgi2 = getattr(utils, "_is_asgi_2", None)
        if _is_asgi2 is None:
            raise RuntimeError("hypercorn.utils has invoke_asgi but no _is_asgi_2")
    wrappers = sys.modules.get("hypercorn.app_wrappers")
    if wrappers is None and hasattr(utils, "wrap_app"):
        wrappers = importlib.import_module("hypercorn.app_wrappers")
    wsgi = getattr(wrappers, "WSGIWrapper", None) if wrappers is not None else None
    _wsgi_types = (wsgi,) if isinstance(wsgi, type) else ()


def _disable() -> None:
    global _active
    _active = False
    _patches.restore()
    _applied.clear()


# --------------------------------------------------------------------------- the contract


def patch() -> None:
    """Install the shim for the imported hypercorn (all or nothing; raises when unsupported)."""
    global _active
    if _active:
        return
    mode, why, version = decide_mode()
    _decision.clear()
    _decision.update(mode=mode, why=why, version=str(version) if version else None, workers={})
    if mode == "native":
        logger.debug("lifespan-state-shim: hypercorn %s is native (%s); nothing wrapped", version, why)
        _active = True
        return
    try:
        _load_release_facts()
        _active = True
        targets: List[Target] = []
        ready = [name for name in _SITES if name in sys.modules]
        for name in ready:
            targets.extend(_SITES[name]())
        _patches.apply(targets)
        _applied.update(ready)
    except BaseException:
        _disable()
        _decision.clear()
        raise
    for name in _SITES:
        if name not in _applied and name not in _hooked:
            _hooked.add(name)
            wrapt.when_imported(name)(_on_site_import)
    logger.debug("lifespan-state-shim: hypercorn %s patched in %s mode (%s)", version, mode, why)
    warn_if_too_late(SERVER)  # a worker_serve already running is past our hook point: say so, once


def unpatch() -> None:
    """Remove every wrap of ours; pending post-import hooks turn into no-ops."""
    _disable()
    _decision.clear()


def is_patched() -> bool:
    return _active


def status() -> Dict[str, Any]:
    workers = dict(_decision.get("workers", {}))
    for flavour in ("asyncio", "trio"):
        workers.setdefault(flavour, f"decided when hypercorn.{flavour} is imported")
    return {
        "mode": _decision.get("mode"),
        "reason": _decision.get("why", ""),
        "version": _decision.get("version"),
        "patched": list(_patches.labels),
        "workers": workers if _active else {},
    }
