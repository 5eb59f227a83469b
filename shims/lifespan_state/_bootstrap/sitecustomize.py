"""Activates lifespan-state-shim in every Python process started under ``lifespan-state run``.

``lifespan-state run`` puts this directory first on ``PYTHONPATH``; Python's ``site`` imports
``sitecustomize`` at start-up, so this runs in the command itself and in every Python process it
starts with that environment (multiprocessing spawn workers, reload children, subprocesses).

Rules, because this runs inside other people's processes:

* never raise: every error is caught and reported in one line on stderr;
* never import a server: activation only registers post-import hooks (servers are patched when,
  and if, the process imports them);
* run the user's own ``sitecustomize`` (the next one on ``sys.path``), which ours shadows;
* safe to run again in one process (a re-import does nothing the second time).
"""

import contextlib
import os
import sys

_FLAG = "_lifespan_state_bootstrapped"


def _warn(message: str) -> None:
    # No usable stderr (pythonw, a closed descriptor): stay silent.
    with contextlib.suppress(Exception):
        sys.stderr.write(f"lifespan-state: warning: {message}\n")


def _activate() -> None:
    try:
        from lifespan_state._registry import activate
    except Exception as exc:
        _warn(
            f"the shim is not active in this process: cannot import lifespan_state with "
            f"{sys.executable} ({type(exc).__name__}: {exc}). Install lifespan-state-shim "
            "into the environment that runs the server."
        )
        return
    try:
        # Non-strict: an unsupported server release is logged once and left untouched.
        activate(strict=False)
    except Exception as exc:
        _warn(f"the shim is not active in this process ({type(exc).__name__}: {exc})")


def _chain_user_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        import importlib.machinery
        import importlib.util

        def _is_ours(entry: str) -> bool:
            try:
                return os.path.samefile(entry or ".", here)
            except OSError:
                return False

        positions = [i for i, entry in enumerate(sys.path) if _is_ours(entry)]
        # Entries before ours cannot hold a sitecustomize (Python would have imported that one).
        rest = sys.path[positions[0] + 1 :] if positions else list(sys.path)
        rest = [entry for entry in rest if not _is_ours(entry)]
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    except Exception as exc:
        _warn(f"could not look for your own sitecustomize ({type(exc).__name__}: {exc})")
        return
    if spec is None or spec.loader is None:
        return
    ours = sys.modules.get("sitecustomize")
    module = importlib.util.module_from_spec(spec)
    # The user's module takes the name, as if ours were not there.
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        # What site.py itself does with a failing sitecustomize: report, carry on.
        if ours is not None:
            sys.modules["sitecustomize"] = ours
        _warn(f"error in {spec.origin} ({type(exc).__name__}: {exc}); carrying on")


def _bootstrap() -> None:
    if getattr(sys, _FLAG, False):
        return
    setattr(sys, _FLAG, True)
    try:
        _activate()
    finally:
        _chain_user_sitecustomize()


try:
    _bootstrap()
except Exception as exc:  # pragma: no cover - a bug of ours must not stop the user's program
    _warn(f"bootstrap failed ({type(exc).__name__}: {exc})")
