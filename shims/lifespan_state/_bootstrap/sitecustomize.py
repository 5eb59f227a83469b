"""Activates lifespan-state-shim in every Python process started under ``lifespan-state run``.

``lifespan-state run`` puts this directory first on ``PYTHONPATH``; Python's ``site`` imports
``sitecustomize`` at start-up, so this runs in the command itself and in every Python process it
starts with that environment (multiprocessing spawn workers, reload children, subprocesses).

Rules, because this runs inside other people's processes:

* never raise: every error is caught and reported in one line on stderr;
* cost nothing where no server runs: at start-up this only puts a trigger on ``sys.meta_path``.
  The first import of a server or harness (the top-level modules the launcher lists in
  ``LIFESPAN_STATE_TRIGGERS``, from the integrations' descriptors) fires it: the shim is
  activated right then — which registers the post-import hooks, never imports a server — and
  that very import goes on through those hooks, so the server is patched as soon as it is loaded.
  The first import of ``lifespan_state`` fires it too (after the package has loaded), so code that
  looks at the shim before any server sees it active. A process that imports neither never
  imports lifespan_state, wrapt or asyncio because of us;
* run the user's own ``sitecustomize`` (the next one on ``sys.path``), which ours shadows;
* stay first on ``PYTHONPATH`` for the processes started from here. Another bootstrap that does
  not run a later ``sitecustomize`` (``opentelemetry-instrument``'s) puts its own directory first
  — its command before it execs, its initialisation (which ours runs, chained) again in every
  process — and a child that finds its ``sitecustomize`` first never runs ours. So after the
  chained ``sitecustomize`` has run, and right before any ``os.exec*`` of this process, our
  directory is moved back to the front (nothing else is reordered, nothing added or removed):
  the child runs ours, and ours runs the other one;
* safe to run again in one process (a re-import does nothing the second time).

``LIFESPAN_STATE_DISABLE=1`` is honoured by the activation itself.
"""

from __future__ import annotations

import contextlib
import os
import sys

# typing is not imported at run time: this module runs in every Python process started under the
# launcher, most of which never serve anything. (``MYPY`` is the type checker's own constant.)
MYPY = False
if MYPY:  # pragma: no cover
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any, Optional, Sequence

_FLAG = "_lifespan_state_bootstrapped"
_HERE = os.path.dirname(os.path.abspath(__file__))


def _warn(message: str) -> None:
    # No usable stderr (pythonw, a closed descriptor): stay silent.
    with contextlib.suppress(Exception):
        sys.stderr.write(f"lifespan-state: warning: {message}\n")


_PACKAGE = "lifespan_state"
#: Top-level modules whose first import activates the shim: every integration's and the package
#: itself, as the launcher wrote them (``launcher.TRIGGERS_ENV``). Without the variable (the
#: directory put on PYTHONPATH by hand) the shim is activated at start-up instead.
_TRIGGERS = frozenset(
    name.strip() for name in os.environ.get("LIFESPAN_STATE_TRIGGERS", "").split(",") if name.strip()
)


def _activate() -> bool:
    try:
        from lifespan_state._registry import activate
    except Exception as exc:
        _warn(
            f"the shim is not active in this process: cannot import lifespan_state with "
            f"{sys.executable} ({type(exc).__name__}: {exc}). Install lifespan-state-shim "
            "into the environment that runs the server."
        )
        return False
    try:
        # Non-strict: an unsupported server release is logged once and left untouched.
        activate(strict=False)
    except Exception as exc:
        _warn(f"the shim is not active in this process ({type(exc).__name__}: {exc})")
        return False
    return True


class _ThenActivate:
    """Loader of ``lifespan_state`` itself: load the package, then activate.

    Code that imports lifespan_state before any server (to call ``status()`` or ``deactivate()``)
    then finds the shim active, exactly as if it had been activated at start-up; a
    ``deactivate()`` it calls still wins. Everything else is the real loader's."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: ModuleSpec) -> Optional[ModuleType]:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        _remove_trigger()
        self._loader.exec_module(module)
        # Leave no trace: the package keeps its real loader.
        with contextlib.suppress(Exception):
            module.__loader__ = self._loader
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader
        _activate()


class _ActivateOnFirstUse:
    """A meta path finder that finds nothing of its own. The first import of a server activates
    the shim and is then looked up again, so that it goes through the post-import hooks the
    activation just registered (wrapt's finder, now first on ``sys.meta_path``). The first import
    of lifespan_state itself activates right after the package has loaded (a mere look-up of the
    package, ``importlib.util.find_spec``, activates nothing and keeps the trigger)."""

    def __init__(self) -> None:
        self._looking_up = False

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None,
                  target: Optional[ModuleType] = None) -> Optional[ModuleSpec]:
        if fullname not in _TRIGGERS or self._looking_up:
            return None  # every other import: one set lookup
        try:
            import importlib.util

            if fullname == _PACKAGE:
                self._looking_up = True  # our own look-up below passes through this finder
                try:
                    spec = importlib.util.find_spec(fullname)
                finally:
                    self._looking_up = False
                if spec is not None and spec.loader is not None:
                    spec.loader = _ThenActivate(spec.loader)  # type: ignore[assignment]
                return spec
            _remove_trigger()
            _check_pythonpath(fullname)
            if not _activate():
                return None
            return importlib.util.find_spec(fullname)
        except Exception as exc:
            _warn(f"activation on `import {fullname}` failed ({type(exc).__name__}: {exc})")
            return None


def _is_ours(entry: str) -> bool:
    if not entry:
        return False  # the working directory: never ours as a PYTHONPATH entry
    if os.path.normpath(entry) == _HERE:
        return True
    try:
        return os.path.samefile(entry, _HERE)
    except OSError:
        return False


def _ours_first(pythonpath: str) -> str:
    """``pythonpath`` with our directory moved to the front, when it holds it; else unchanged."""
    entries = pythonpath.split(os.pathsep)
    if not entries or _is_ours(entries[0]) or not any(_is_ours(e) for e in entries):
        return pythonpath
    ours = next(e for e in entries if _is_ours(e))
    return os.pathsep.join([ours, *(e for e in entries if not _is_ours(e))])


def _keep_first(env: Any = None) -> None:
    """Move our directory back to the front of ``PYTHONPATH`` in ``env`` (``os.environ``)."""
    with contextlib.suppress(Exception):
        target = os.environ if env is None else env
        current = target.get("PYTHONPATH")
        if current:
            fixed = _ours_first(current)
            if fixed != current:
                target["PYTHONPATH"] = fixed


_started_with_us = False


def _check_pythonpath(server: str) -> None:
    """At the first server import: the processes this one will start (workers, reload children)
    find our bootstrap through PYTHONPATH. When the program dropped it from PYTHONPATH after
    start-up, they will run without the shim: say so once, here, where it can still be seen."""
    with contextlib.suppress(Exception):
        entries = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if _started_with_us and not any(_is_ours(e) for e in entries):
            _warn(
                f"PYTHONPATH was rewritten in this process before `import {server}` and no longer "
                "holds lifespan-state's bootstrap: workers and reload children started from here "
                "will run without the shim. Keep the bootstrap directory on PYTHONPATH (extend it, "
                "don't replace it), or use `import lifespan_state.auto` in the app module."
            )
        else:
            _keep_first()


def _guard_exec() -> None:
    """Wrap ``os.execv`` and ``os.execve`` (every other ``os.exec*`` calls one of them, looked
    up in ``os`` at call time) so that an exec'd command finds our ``sitecustomize`` first even
    when this process reordered ``PYTHONPATH`` just before (``opentelemetry-instrument``)."""
    real_execv, real_execve = os.execv, os.execve
    if getattr(real_execv, "_lifespan_state", False):
        return

    def execv(path: Any, argv: Any) -> Any:
        _keep_first()
        return real_execv(path, argv)

    def execve(path: Any, argv: Any, env: Any) -> Any:
        if env is os.environ:
            _keep_first()
        else:
            with contextlib.suppress(Exception):
                current = env.get("PYTHONPATH")
                if current and _ours_first(current) != current:
                    env = dict(env, PYTHONPATH=_ours_first(current))
        return real_execve(path, argv, env)

    execv.__doc__, execve.__doc__ = real_execv.__doc__, real_execve.__doc__
    execv._lifespan_state = execve._lifespan_state = True  # type: ignore[attr-defined]
    os.execv, os.execve = execv, execve


def _remove_trigger() -> None:
    # Fires once: activation covers every server.
    for finder in list(sys.meta_path):
        if isinstance(finder, _ActivateOnFirstUse):
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(finder)


def _install_trigger() -> None:
    if not _TRIGGERS:
        _activate()  # nothing to wait for: activate now (it imports no server)
        return
    try:
        sys.meta_path.insert(0, _ActivateOnFirstUse())
    except Exception as exc:
        _warn(f"cannot wait for a server import ({type(exc).__name__}: {exc}); activating now")
        _activate()


def _chain_user_sitecustomize() -> None:
    try:
        import importlib.machinery
        import importlib.util

        def _is_ours_on_sys_path(entry: str) -> bool:
            try:
                return os.path.samefile(entry or ".", _HERE)
            except OSError:
                return False

        positions = [i for i, entry in enumerate(sys.path) if _is_ours_on_sys_path(entry)]
        # Entries before ours cannot hold a sitecustomize (Python would have imported that one).
        rest = sys.path[positions[0] + 1 :] if positions else list(sys.path)
        rest = [entry for entry in rest if not _is_ours_on_sys_path(entry)]
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    except Exception as exc:
        _warn(f"could not look for your own sitecustomize ({type(exc).__name__}: {exc})")
        return
    if spec is None or spec.loader is None:
        return
    ours = sys.modules.get("sitecustomize")
    try:
        module = importlib.util.module_from_spec(spec)
        # The user's module takes the name, as if ours were not there.
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        # What site.py itself does with a failing sitecustomize: report, carry on.
        if ours is not None:
            sys.modules["sitecustomize"] = ours
        _warn(f"error in {spec.origin} ({type(exc).__name__}: {exc}); carrying on")


def _bootstrap() -> None:
    global _started_with_us
    if getattr(sys, _FLAG, False):
        return
    setattr(sys, _FLAG, True)
    with contextlib.suppress(Exception):
        _started_with_us = any(_is_ours(e) for e in os.environ.get("PYTHONPATH", "").split(os.pathsep))
    try:
        # Before the user's sitecustomize, in case that one imports a server.
        _install_trigger()
    finally:
        try:
            _chain_user_sitecustomize()
        finally:
            # The chained sitecustomize may have put its own directory first (OpenTelemetry's
            # initialisation does): the workers and reload children started from here must find
            # ours first again. Exec'd commands are covered at the exec itself.
            _keep_first()
            with contextlib.suppress(Exception):
                _guard_exec()


try:
    _bootstrap()
except Exception as exc:  # pragma: no cover - a bug of ours must not stop the user's program
    _warn(f"bootstrap failed ({type(exc).__name__}: {exc})")
