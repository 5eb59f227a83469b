"""Activation state: lazy post-import hooks, idempotence, typed errors, warnings once.

The registry knows the shims by name only. A shim module (``lifespan_state.<server>``) is imported
when — and only when — its server has been imported, and it honours this contract::

    SERVER: str                       # distribution and import name
    def patch() -> None               # all or nothing; raises LifespanStateError subclasses
    def unpatch() -> None             # removes exactly what patch() installed
    def is_patched() -> bool
    def status() -> dict[str, object] # version, mode, why, patched (labels of the wraps)

Error policy by call path: an explicit ``activate()`` raises a typed error when the server is
already imported and cannot be patched; automatic activation (``import lifespan_state.auto``, the
launcher's bootstrap, a server imported after ``activate()``) logs once and leaves the server as
it was. Never a crashed host process.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Set, Tuple

import wrapt

from ._errors import LifespanStateError, ServerNotInstalledError, ShimError
from ._versions import SUPPORTED, installed_version

__all__ = [
    "DISABLE_ENV",
    "SERVERS",
    "ServerStatus",
    "activate",
    "deactivate",
    "status",
]

logger = logging.getLogger("lifespan_state")

#: Setting this environment variable to 1/true/yes switches every activation path off.
DISABLE_ENV = "LIFESPAN_STATE_DISABLE"

SERVERS: Tuple[str, ...] = tuple(SUPPORTED)

_lock = threading.RLock()
_requested: Set[str] = set()
_hooked: Set[str] = set()
_logged: Set[str] = set()
_errors: Dict[str, str] = {}


@dataclass(frozen=True)
class ServerStatus:
    """What the shim knows and did about one server, as ``status()`` reports it."""

    server: str
    installed: Optional[str]
    imported: bool
    requested: bool
    mode: Optional[str]
    patched: Tuple[str, ...]
    reason: str

    def as_dict(self) -> Dict[str, Any]:
        return {
            "server": self.server,
            "installed": self.installed,
            "imported": self.imported,
            "requested": self.requested,
            "mode": self.mode,
            "patched": list(self.patched),
            "reason": self.reason,
        }


def disabled_by_env() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _log_once(key: str, level: int, message: str) -> None:
    if key in _logged:
        return
    _logged.add(key)
    logger.log(level, message)


def _names(servers: Iterable[str]) -> Tuple[str, ...]:
    names = tuple(servers) or SERVERS
    unknown = [n for n in names if n not in SUPPORTED]
    if unknown:
        raise ValueError(
            f"unknown server {unknown[0]!r}: lifespan-state-shim supports {', '.join(SERVERS)}"
        )
    return names


def _shim(server: str) -> Any:
    return importlib.import_module(f"lifespan_state.{server}")


def activate(*servers: str, strict: bool = True) -> None:
    """Activate the shim for ``servers`` (default: every supported server).

    Servers already imported are patched now; the others are patched when they are imported.
    With ``strict`` (the default for explicit calls), a named server that is not installed or an
    imported server that cannot be patched raises a :class:`LifespanStateError`; without it the
    problem is logged once and the server is left untouched.
    """
    names = _names(servers)
    if disabled_by_env():
        _log_once("disabled", logging.INFO, f"lifespan-state-shim: not activated ({DISABLE_ENV} is set)")
        return
    with _lock:
        for name in names:
            if strict and servers and installed_version(name) is None and name not in sys.modules:
                raise ServerNotInstalledError(name)
            if name in _requested and _shim_is_patched(name):
                _log_once(
                    f"again:{name}",
                    logging.DEBUG,
                    f"lifespan-state-shim: already active for {name}; nothing more to do",
                )
                continue
            _requested.add(name)
            if name in sys.modules:
                _patch_now(name, strict=strict)
            elif name not in _hooked:
                _hooked.add(name)
                # Hooks cannot be unregistered: the callback checks _requested instead.
                wrapt.when_imported(name)(_on_import)


def _on_import(module: Any) -> None:
    # Runs inside the user's `import <server>`: it must never raise.
    name = module.__name__
    try:
        with _lock:
            if name in _requested:
                _patch_now(name, strict=False)
    except BaseException as exc:  # pragma: no cover - _patch_now already guards
        _log_once(f"hook:{name}", logging.ERROR, f"lifespan-state-shim: {name} left unpatched: {exc}")


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
        _log_once(f"error:{name}", logging.WARNING, f"lifespan-state-shim: {exc}")
    except Exception as exc:
        # A bug of ours or a release that moved a hook point: patch() already undid its wraps.
        message = (
            f"patching {name} failed ({type(exc).__name__}: {exc}); the server was left "
            "unchanged. Please report this with the output of `lifespan-state status`."
        )
        _errors[name] = message
        if strict:
            raise ShimError(message) from exc
        _log_once(f"error:{name}", logging.WARNING, f"lifespan-state-shim: {message}")


def _shim_is_patched(name: str) -> bool:
    if name not in sys.modules:
        return False
    try:
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
                _log_once(
                    f"deactivate:{name}",
                    logging.DEBUG,
                    f"lifespan-state-shim: not active for {name}; nothing to deactivate",
                )


def status() -> Dict[str, ServerStatus]:
    """Per server: the release found, whether it is imported, the mode chosen and what is wrapped."""
    result: Dict[str, ServerStatus] = {}
    with _lock:
        for name in SERVERS:
            version = installed_version(name)
            imported = name in sys.modules
            mode: Optional[str] = None
            patched: Tuple[str, ...] = ()
            reason = _errors.get(name, "")
            if imported and name in _requested:
                try:
                    info = _shim(name).status()
                except Exception as exc:  # status must never raise
                    info = {"reason": f"status unavailable: {exc}"}
                mode = info.get("mode")
                patched = tuple(info.get("patched", ()))
                reason = reason or str(info.get("reason", ""))
            elif name not in _requested:
                reason = reason or "not activated"
            else:
                reason = reason or f"waiting for `import {name}`"
            result[name] = ServerStatus(
                server=name,
                installed=str(version) if version is not None else None,
                imported=imported,
                requested=name in _requested,
                mode=mode,
                patched=patched,
                reason=reason,
            )
    return result
