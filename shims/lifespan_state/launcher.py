"""``lifespan-state run [--] COMMAND [ARGS...]``: run a command with the shim active everywhere.

Thin on purpose (like ``opentelemetry-instrument`` and ``ddtrace-run``): put the bootstrap
directory first on ``PYTHONPATH`` and ``exec`` the command. Python's ``site`` then imports our
``sitecustomize`` in the command and in every Python process it starts with that environment —
uvicorn's and hypercorn's spawned workers and reload children, ``python -m`` runs, scripts — and
that activates the shim there (see ``_bootstrap/sitecustomize.py``). Forked workers (gunicorn)
inherit the activation of their parent.

``LIFESPAN_STATE_DISABLE=1`` switches activation off without removing the launcher.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from ._registry import DISABLE_ENV

__all__ = ["BOOTSTRAP_DIR", "bootstrap_env", "main"]

#: The directory ``lifespan-state run`` puts first on PYTHONPATH (it holds ``sitecustomize.py``).
BOOTSTRAP_DIR = str(Path(__file__).resolve().parent / "_bootstrap")

#: Commands that are servers: when missing, say "not installed" rather than "not found".
_SERVER_COMMANDS = {"uvicorn": "uvicorn", "hypercorn": "hypercorn", "gunicorn": "gunicorn"}

_USAGE = """\
usage: lifespan-state run [--] COMMAND [ARGS...]

Run COMMAND with lifespan-state-shim active in it and in every Python process it starts
(spawned workers, reload children). Examples:

  lifespan-state run -- uvicorn main:app --workers 2
  lifespan-state run -- hypercorn main:app -w 2
  lifespan-state run -- gunicorn -k uvicorn.workers.UvicornWorker -w 2 main:app
  lifespan-state run -- python -m uvicorn main:app --reload

Set {disable}=1 to switch the shim off without removing the launcher.
Python started with -I, -E or -S ignores PYTHONPATH or sitecustomize: the shim stays off there.
"""


def _error(message: str, status: int) -> int:
    sys.stderr.write(f"lifespan-state run: error: {message}\n")
    return status


def bootstrap_env(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """A copy of ``environ`` (default: ``os.environ``) with the bootstrap directory first on
    ``PYTHONPATH``, exactly once (running the launcher under itself changes nothing)."""
    env = dict(os.environ if environ is None else environ)
    current = env.get("PYTHONPATH", "")
    # The user's entries are kept as they are (an empty one means the working directory).
    entries = current.split(os.pathsep) if current else []
    ours = os.path.normpath(BOOTSTRAP_DIR)
    entries = [e for e in entries if not e or os.path.normpath(e) != ours]
    env["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP_DIR, *entries])
    return env


def _factory_problem(args: Sequence[str], env: Mapping[str, str]) -> Optional[str]:
    """A missing or malformed LIFESPAN_STATE_APP for a command serving the factory, found before
    the exec: uvicorn's ``--workers`` parent would otherwise keep running after every worker
    failed on it. Only the form is checked; importing the app is the server's business."""
    if not any("lifespan_state.factory:" in arg for arg in args):
        return None
    from .factory import AppLoadError, env_spec

    try:
        env_spec(env)
    except AppLoadError as exc:
        return str(exc)
    return None


def _resolve(command: str, env: Mapping[str, str]) -> Optional[str]:
    if os.sep in command or (os.altsep and os.altsep in command):
        return command if os.path.isfile(command) and os.access(command, os.X_OK) else None
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        # `.venv/bin/lifespan-state run -- uvicorn ...` without activating the environment: the
        # server's script sits next to our own Python.
        found = shutil.which(command, path=os.path.dirname(sys.executable))
    return found


def main(argv: Sequence[str]) -> int:
    args: List[str] = list(argv)
    if args and args[0] in {"-h", "--help"}:
        print(_USAGE.format(disable=DISABLE_ENV), end="")
        return 0
    if args and args[0] == "--":
        args = args[1:]
    elif args and args[0].startswith("-"):
        return _error(
            f"unknown option {args[0]!r}; put the command after `--`, e.g. "
            "`lifespan-state run -- uvicorn main:app`",
            2,
        )
    if not args:
        return _error(
            "no command given. Usage: lifespan-state run [--] COMMAND [ARGS...], e.g. "
            "`lifespan-state run -- uvicorn main:app --workers 2`",
            2,
        )
    env = bootstrap_env()
    problem = _factory_problem(args, env)
    if problem is not None:
        return _error(problem, 2)
    command = args[0]
    path = _resolve(command, env)
    if path is None:
        server = _SERVER_COMMANDS.get(os.path.basename(command))
        if server is not None:
            return _error(
                f"{server} is not installed here (no `{command}` on PATH). Install it into the "
                f"environment you run the launcher from (`pip install {server}`), or activate "
                "that environment first.",
                127,
            )
        return _error(f"command not found: {command!r} (not on PATH and not an executable file)", 127)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(path, args, env)
    except OSError as exc:
        return _error(f"cannot run {command!r}: {exc.strerror or exc}", 126)
    return 0  # pragma: no cover - execve does not return
