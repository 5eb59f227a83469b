"""Post-import hooks that cost nothing until the module they wait for is imported.

``when_imported(name, hook)`` calls ``hook(module)`` right after ``name`` has been imported (at
once if it already is). This is what wrapt's ``when_imported`` does, without importing wrapt (and
through it asyncio, inspect and importlib.metadata) in every process that activates the shim but
never serves anything: one finder on ``sys.meta_path`` that answers only for the names waited for,
a set lookup for every other import.

For such a name the finder asks the other finders for the spec and wraps its loader; the wrapped
loader runs the real ``exec_module`` (with the module's ``__loader__`` and ``__spec__.loader``
pointing at the real loader again, so the module never sees us) and then the hooks. A hook is
removed once it has run; a failed import leaves it waiting for the next attempt. Hooks must
never raise (they run inside the user's import); an exception of one is swallowed so that the
import itself goes on. A warning the module raises as it is imported names the importer, as
without us (``_Loader.exec_module`` counts as an import-system frame).

Imports nothing but :mod:`sys` (and ``_thread``): the launcher's bootstrap may use it too.
"""

from __future__ import annotations

import _thread
import sys

MYPY = False
if MYPY:  # pragma: no cover
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any, Callable, Dict, List, Optional, Sequence, Set

    Hook = Callable[[ModuleType], None]

__all__ = ["pending", "when_imported"]

_lock = _thread.RLock()
_hooks: Dict[str, List[Hook]] = {}
#: Names whose spec this finder is looking up right now (the other finders may ask us again).
_busy: Set[str] = set()


def when_imported(name: str, hook: Hook) -> None:
    """Call ``hook(module)`` once ``name`` has been imported; at once if it already has been."""
    module = sys.modules.get(name)
    if module is not None:
        _call(hook, module)
        return
    with _lock:
        _hooks.setdefault(name, []).append(hook)
        _install()


def pending() -> List[str]:
    """The module names hooks are waiting for (for status and tests)."""
    with _lock:
        return sorted(_hooks)


def _call(hook: Hook, module: ModuleType) -> None:
    try:  # noqa: SIM105 - contextlib is one import more on the activation path
        hook(module)
    except Exception:  # pragma: no cover - hooks guard themselves; the import must go on
        pass


def _install() -> None:
    for finder in sys.meta_path:
        if isinstance(finder, _Finder):
            return
    sys.meta_path.insert(0, _Finder())


def _fire(module: ModuleType) -> None:
    name = module.__name__
    with _lock:
        hooks = _hooks.pop(name, [])
    for hook in hooks:
        _call(hook, module)


class _Loader:
    """The real loader of a waited-for module, plus the hooks after its ``exec_module``."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: ModuleSpec) -> Optional[ModuleType]:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        # Leave no trace: the module keeps its real loader.
        try:
            module.__loader__ = self._loader
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader
        except Exception:  # pragma: no cover - a module type that refuses attributes
            pass
        self._loader.exec_module(module)
        _fire(module)

    # The module's own code runs below this frame. ``warnings.warn(..., stacklevel=2)`` at its top
    # level must name the module that imported it, as it does without us: the warnings machinery
    # (Python's and C's alike, 3.8 on) skips frames whose file name contains both "importlib" and
    # "_bootstrap", which is how it steps over the import system's own frames. This frame is one
    # of those, so its file name says so (tracebacks still name this file).
    exec_module.__code__ = exec_module.__code__.replace(
        co_filename=f"{__file__} (an importlib._bootstrap frame: the import hook's loader)"
    )


class _Finder:
    """First on ``sys.meta_path``; finds nothing of its own."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[ModuleSpec]:
        if fullname not in _hooks or fullname in _busy:
            return None  # every other import: two set lookups
        _busy.add(fullname)
        try:
            spec = None
            for finder in list(sys.meta_path):
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        except Exception:
            return None  # let the import system report what is wrong, as without us
        finally:
            _busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # a namespace package or a legacy loader: nothing to hook into
        spec.loader = _Loader(spec.loader)  # type: ignore[assignment]
        return spec  # type: ignore[no-any-return]
