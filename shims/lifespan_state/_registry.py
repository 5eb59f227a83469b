"""Activation state: which servers are wanted, post-import hooks, typed errors, warnings once.

The registry knows the integrations by the rows of ``SUPPORTED`` only (``_versions.py``, made
from the descriptors): each row names its integration and the imports that make it load the
integration's hook code. That code is imported when — and only when — one of those imports has
happened; it honours the contract of ``_shim.py`` (``patch()``, ``unpatch()``, ``is_patched()``,
``status()``). Adding a server or harness is one integration (``_integrations/<name>/``, or an
entry point of another distribution: ``lifespan_state.integrations``); nothing here changes.

Error policy by call path: an explicit ``activate()`` raises a typed error when the server is
already imported and cannot be patched; automatic activation (``import lifespan_state.auto``, the
launcher's bootstrap, a server imported after ``activate()``) logs once and leaves the server as
it was. Never a crashed host process.

Kept cheap: until a supported server is imported this module has imported nothing but the table
(no wrapt, no :mod:`logging`, no :mod:`threading`, no :mod:`typing` at run time).
"""

from __future__ import annotations

import _thread
import os
import sys

from . import _hooks, _log
from ._errors import LifespanStateError, ServerNotInstalledError, ShimError
from ._integrations import entry_points
from ._versions import SUPPORTED, installed_version

MYPY = False
if MYPY:  # pragma: no cover
    from types import ModuleType
    from typing import Any, Dict, Iterable, Optional, Set, Tuple

__all__ = [
    "DISABLE_ENV",
    "DISABLE_VALUES",
    "SERVERS",
    "ServerStatus",
    "activate",
    "deactivate",
    "status",
]

#: Setting this environment variable to 1, true, yes or on (any case) switches every activation
#: path off. Any other non-empty value is ignored, with a warning.
DISABLE_ENV = "LIFESPAN_STATE_DISABLE"
#: The values of DISABLE_ENV that switch the shim off.
DISABLE_VALUES = ("1", "true", "yes", "on")

#: Every integration the shim acts on, by distribution name (``discover()`` adds those of other
#: distributions).
SERVERS: Tuple[str, ...] = tuple(SUPPORTED)

_lock = _thread.RLock()
_requested: Set[str] = set()
_hooked: Set[str] = set()
_errors: Dict[str, str] = {}
_discovered = False


def discover() -> Tuple[str, ...]:
    """Add the integrations of other distributions (entry points) to ``SUPPORTED``, once.

    An entry point that cannot be loaded is logged once and left out: someone else's broken
    package must not stop the shim for the servers that work.
    """
    global SERVERS, _discovered
    with _lock:
        if _discovered:
            return SERVERS
        _discovered = True
        found = entry_points()
        if not found:
            return SERVERS
        from ._integrations._load import IntegrationError, load

        for name, reference in found:
            try:
                integration = load(reference)
                if integration.name in SUPPORTED or not integration.supported:
                    continue
                SUPPORTED[integration.name] = integration.support(reference)
            except (IntegrationError, TypeError, ValueError) as exc:
                _log.log_once(f"entry-point:{name}", _log.WARNING,
                              f"lifespan-state-shim: integration {name!r} left out: {exc}")
        SERVERS = tuple(SUPPORTED)
        return SERVERS


class ServerStatus:
    """What the shim knows and did about one server, as ``status()`` reports it.

    ``patched`` lists what is wrapped now; ``pending`` maps an import that has not happened yet
    to what will be wrapped when it does (hypercorn's wraps come with ``hypercorn.asyncio`` /
    ``hypercorn.trio``).
    """

    __slots__ = (
        "disabled", "imported", "installed", "mode", "patched", "pending", "reason", "requested", "server",
    )  # fmt: skip

    def __init__(
        self,
        server: str,
        installed: Optional[str],
        imported: bool,
        requested: bool,
        mode: Optional[str],
        patched: Tuple[str, ...],
        reason: str,
        pending: Optional[Dict[str, str]] = None,
        disabled: bool = False,
    ) -> None:
        self.server = server
        self.installed = installed
        self.imported = imported
        self.requested = requested
        self.mode = mode
        self.patched = patched
        self.reason = reason
        self.pending: Dict[str, str] = dict(pending or {})
        #: LIFESPAN_STATE_DISABLE switched activation off in this process.
        self.disabled = disabled

    def as_dict(self) -> Dict[str, Any]:
        return {
            "server": self.server,
            "installed": self.installed,
            "imported": self.imported,
            "requested": self.requested,
            "mode": self.mode,
            "patched": list(self.patched),
            "pending": dict(self.pending),
            "reason": self.reason,
            "disabled": self.disabled,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServerStatus) and other.as_dict() == self.as_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"ServerStatus({fields})"


def disabled_by_env() -> bool:
    """True when LIFESPAN_STATE_DISABLE is 1, true, yes or on (any case, spaces ignored)."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() in DISABLE_VALUES


def _disable_text() -> str:
    return f"{DISABLE_ENV}={os.environ.get(DISABLE_ENV, '')} is set"


def _note_disable_variable(strict: bool) -> bool:
    """True when activation is switched off; says so (or that the value is ignored) once.

    Under ``lifespan-state run`` the launcher has already said it, once for the whole process
    tree: the bootstrap's automatic activation in every child then logs at INFO only.
    """
    value = os.environ.get(DISABLE_ENV, "")
    if not value.strip():
        return False
    said = not strict and getattr(sys, "_lifespan_state_bootstrapped", False)
    level = _log.INFO if said else _log.WARNING
    if disabled_by_env():
        how = "activate()" if strict else "automatic activation"
        _log.log_once(
            "disabled",
            level,
            f"lifespan-state-shim: not activated ({how}): {_disable_text()}; unset it to activate",
        )
        return True
    _log.log_once(
        "disable-value",
        level,
        f"lifespan-state-shim: {DISABLE_ENV}={value!r} is not one of {', '.join(DISABLE_VALUES)}: "
        f"ignored, the shim is active (unset {DISABLE_ENV} or set it to 1 to switch it off)",
    )
    return False


def _names(servers: Iterable[str]) -> Tuple[str, ...]:
    names = tuple(servers) or discover()
    unknown = [n for n in names if n not in SUPPORTED]
    if unknown:
        raise ValueError(
            f"unknown server {unknown[0]!r}: lifespan-state-shim supports {', '.join(SERVERS)}"
        )
    return names


def _imported(name: str) -> bool:
    return any(module in sys.modules for module in SUPPORTED[name].imports)


def _shim(name: str) -> Any:
    # Only once a server is there: not on the activation path.
    from ._integrations._load import load

    integration = load(SUPPORTED[name].integration)
    return integration.resolve(integration.hooks)


def activate(*servers: str, strict: bool = True) -> None:
    """Activate the shim for ``servers`` (default: every supported server).

    Servers already imported are patched now; the others are patched when they are imported.
    With ``strict`` (the default for explicit calls), a named server that is not installed or an
    imported server that cannot be patched raises a :class:`LifespanStateError`; without it the
    problem is logged once and the server is left untouched.

    ``LIFESPAN_STATE_DISABLE`` set to ``1``, ``true``, ``yes`` or ``on`` (any case) makes this a
    no-op, said once in a warning on the ``lifespan_state`` logger; any other non-empty value is
    ignored, also with a warning once. ``status()`` reports it too.
    """
    names = _names(servers)
    if _note_disable_variable(strict):
        return
    with _lock:
        for name in names:
            if strict and servers and not _imported(name) and installed_version(name) is None:
                raise ServerNotInstalledError(name)
            if name in _requested and _shim_is_patched(name):
                _log.log_once(
                    f"again:{name}",
                    _log.DEBUG,
                    f"lifespan-state-shim: already active for {name}; nothing more to do",
                )
                continue
            _requested.add(name)
            if _imported(name):
                _patch_now(name, strict=strict)
                continue
            for module in SUPPORTED[name].imports:
                if module not in _hooked:
                    _hooked.add(module)
                    # A hook runs once, whatever happened since: it checks _requested.
                    _hooks.when_imported(module, _on_import)


def _on_import(module: ModuleType) -> None:
    # Runs inside the user's import of a server: it must never raise.
    imported = module.__name__
    _hooked.discard(imported)  # a hook runs once: a later activate() may need a new one
    for name, row in SUPPORTED.items():
        if imported not in row.imports:
            continue
        try:
            with _lock:
                if name in _requested:
                    _patch_now(name, strict=False)
        except BaseException as exc:  # pragma: no cover - _patch_now already guards
            _log.log_once(
                f"hook:{name}", _log.ERROR, f"lifespan-state-shim: {name} left unpatched: {exc}"
            )


def _patch_now(name: str, *, strict: bool) -> None:
    try:
        shim = _shim(name)
        if shim.is_patched():
            return
        shim.patch()
        _errors.pop(name, None)
    except LifespanStateError as exc:
        _errors[name] = str(exc)
        if strict:
            raise
        _log.log_once(f"error:{name}", _log.WARNING, f"lifespan-state-shim: {exc}")
    except Exception as exc:
        # A bug of ours or a release that moved a hook point: patch() already undid its wraps.
        message = (
            f"patching {name} failed ({type(exc).__name__}: {exc}); the server was left "
            "unchanged. Please report this with the output of `lifespan-state status`."
        )
        _errors[name] = message
        if strict:
            raise ShimError(message) from exc
        _log.log_once(f"error:{name}", _log.WARNING, f"lifespan-state-shim: {message}")


def _shim_is_patched(name: str) -> bool:
    # The hook code is loaded only after its server was imported: not loaded, not patched.
    reference = SUPPORTED[name].integration
    if reference.partition(":")[0] not in sys.modules:
        return False  # not even the descriptor
    try:
        from ._integrations._load import load

        if load(reference).hooks_module not in sys.modules:
            return False
        return bool(_shim(name).is_patched())
    except Exception:
        return False


def deactivate(*servers: str) -> None:
    """Remove every wrapper the shim installed (default: for every server) and stop pending hooks.

    Servers that are running keep working: requests they serve from now on keep the state they
    already had. Deactivating a server that is not active logs and does nothing.
    """
    names = _names(servers)
    with _lock:
        for name in names:
            was_requested = name in _requested
            _requested.discard(name)
            if _shim_is_patched(name):
                _shim(name).unpatch()
            elif not was_requested:
                _log.log_once(
                    f"deactivate:{name}",
                    _log.DEBUG,
                    f"lifespan-state-shim: not active for {name}; nothing to deactivate",
                )


def status() -> Dict[str, ServerStatus]:
    """Per distribution name: the release found, whether it is imported, the mode chosen, what
    is wrapped now and what will be wrapped on which import."""
    result: Dict[str, ServerStatus] = {}
    disabled = disabled_by_env()
    with _lock:
        for name in discover():
            version = installed_version(name)
            imported = _imported(name)
            requested = name in _requested
            mode: Optional[str] = None
            patched: Tuple[str, ...] = ()
            pending: Dict[str, str] = {}
            reason = _errors.get(name, "")
            if imported and requested:
                try:
                    info = _shim(name).status()
                except Exception as exc:  # status must never raise
                    info = {"reason": f"status unavailable: {exc}"}
                mode = info.get("mode")
                patched = tuple(info.get("patched", ()))
                pending = dict(info.get("pending", {}))
                reason = reason or str(info.get("reason", ""))
            elif not requested:
                reason = reason or (f"not activated: {_disable_text()}" if disabled else "not activated")
            else:
                first = SUPPORTED[name].imports[0]
                pending = {first: "decided when it is imported"}
                reason = reason or f"waiting for `import {first}`"
            result[name] = ServerStatus(
                server=name,
                installed=str(version) if version is not None else None,
                imported=imported,
                requested=requested,
                mode=mode,
                patched=patched,
                reason=reason,
                pending=pending,
                disabled=disabled,
            )
    return result
