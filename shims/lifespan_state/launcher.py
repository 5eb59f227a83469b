"""``lifespan-state run [--] COMMAND [ARGS...]``: run a command with the shim active everywhere.

Thin on purpose (like ``opentelemetry-instrument`` and ``ddtrace-run``): put the bootstrap
directory first on ``PYTHONPATH`` and ``exec`` the command. Python's ``site`` then imports our
``sitecustomize`` in the command and in every Python process it starts with that environment —
uvicorn's and hypercorn's spawned workers and reload children, ``python -m`` runs, scripts — and
that activates the shim there (see ``_bootstrap/sitecustomize.py``). Forked workers (a pre-fork
arbiter's) inherit the activation of their parent.

Before the exec the launcher checks what it can see from outside, so that a run that could not
have the shim stops with one line instead of a server traceback: a command whose script runs on
another interpreter that cannot import lifespan_state (Debian's ``/usr/bin/hypercorn`` on
``/usr/bin/python3`` from a venv without hypercorn) exits 127 and names both interpreters and the
command that works. ``python`` / ``python3`` resolve to the launcher's own environment when that
is not on PATH (``.venv/bin/lifespan-state run -- python -m uvicorn ...`` without activating it),
and the interpreter is exec'd by its absolute path, which is how Python finds its venv.

``LIFESPAN_STATE_DISABLE=1`` switches activation off without removing the launcher (said once on
stderr).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ._registry import DISABLE_ENV, disabled_by_env

__all__ = ["BOOTSTRAP_DIR", "TRIGGERS_ENV", "bootstrap_env", "main", "triggers"]

#: The directory ``lifespan-state run`` puts first on PYTHONPATH (it holds ``sitecustomize.py``).
BOOTSTRAP_DIR = str(Path(__file__).resolve().parent / "_bootstrap")

#: The environment variable that tells the bootstrap which top-level imports activate the shim.
TRIGGERS_ENV = "LIFESPAN_STATE_TRIGGERS"


def _server_commands() -> Dict[str, str]:
    """Commands that are servers (the descriptors' ``commands``) -> the module they run: when
    missing, say "not installed" rather than "not found"; on an interpreter that cannot import
    lifespan_state, stop instead of serving without the shim."""
    from ._integrations._load import integrations

    return {command: i.module for i in integrations() if i.supported for command in i.commands}


def triggers() -> List[str]:
    """Top-level modules whose first import activates the shim in a bootstrapped process: every
    integration's (other distributions' too) and lifespan_state itself."""
    from ._registry import discover
    from ._versions import SUPPORTED

    found = {module.partition(".")[0] for name in discover() for module in SUPPORTED[name].imports}
    return sorted(found | {"lifespan_state"})

#: ``python``, ``python3``, ``python3.11``: names that mean "a Python interpreter".
_PYTHON_NAME = re.compile(r"python(\d+(\.\d+)?)?")

#: Run on another interpreter: 0 when it can import lifespan_state (nothing is imported).
_CAN_IMPORT = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('lifespan_state') else 3)"

_USAGE = """\
usage: lifespan-state run [--] COMMAND [ARGS...]

Run COMMAND with lifespan-state-shim active in it and in every Python process it starts
(spawned workers, reload children). Examples:

  lifespan-state run -- uvicorn main:app --workers 2
  lifespan-state run -- hypercorn main:app -w 2
  lifespan-state run -- python serve.py   (a script that starts its server itself)
  lifespan-state run -- python -m uvicorn main:app --reload

Set {disable}=1 to switch the shim off without removing the launcher.
Python started with -I, -E or -S ignores PYTHONPATH or sitecustomize: the shim stays off there.
"""


def _error(message: str, status: int) -> int:
    sys.stderr.write(f"lifespan-state run: error: {message}\n")
    return status


def _note(message: str) -> None:
    sys.stderr.write(f"lifespan-state run: {message}\n")


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
    env[TRIGGERS_ENV] = ",".join(triggers())
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


def _own_bindir() -> Optional[str]:
    """The ``bin`` directory of the virtual environment the launcher runs in (None outside one)."""
    if sys.prefix == getattr(sys, "base_prefix", sys.prefix):
        return None
    return os.path.dirname(os.path.abspath(sys.executable))


def _on_path(directory: str, env: Mapping[str, str]) -> bool:
    for entry in env.get("PATH", os.defpath).split(os.pathsep):
        try:
            if entry and os.path.samefile(entry, directory):
                return True
        except OSError:
            continue
    return False


def _resolve(command: str, env: Mapping[str, str]) -> Optional[str]:
    if os.sep in command or (os.altsep and os.altsep in command):
        return command if os.path.isfile(command) and os.access(command, os.X_OK) else None
    own = _own_bindir()
    if own is not None and _PYTHON_NAME.fullmatch(command) and not _on_path(own, env):
        # `.venv/bin/lifespan-state run -- python -m uvicorn ...` without activating the venv:
        # "python" means the launcher's own environment, not whatever PATH finds first.
        mine = shutil.which(command, path=own)
        if mine is not None:
            return mine
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        # `.venv/bin/lifespan-state run -- uvicorn ...` without activating the environment: the
        # server's script sits next to our own Python.
        found = shutil.which(command, path=os.path.dirname(sys.executable))
    return found


def _shebang(path: str, env: Mapping[str, str]) -> Optional[str]:
    """The Python interpreter a script runs on (``#!/usr/bin/python3``, ``#!/usr/bin/env
    python3``), or None for anything else (a binary, a shell script, an unreadable file)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env" and len(words) > 1:
        words = [w for w in words[1:] if not w.startswith("-")]  # env -S python3 -u
        if not words:
            return None
        found = shutil.which(words[0], path=env.get("PATH", os.defpath))
        interpreter = found or words[0]
    else:
        interpreter = words[0]
    return interpreter if _PYTHON_NAME.fullmatch(os.path.basename(interpreter)) else None


def _same_interpreter(interpreter: str) -> bool:
    ours = os.path.abspath(sys.executable)
    if os.path.abspath(interpreter) == ours:
        return True
    # Another name of our own Python in the same directory (python3 next to python) runs the
    # same environment; a symlink elsewhere (/usr/bin/python3 -> python3.11) does not.
    try:
        return os.path.dirname(os.path.abspath(interpreter)) == os.path.dirname(ours) and os.path.samefile(
            interpreter, ours
        )
    except OSError:
        return False


def _cannot_import_us(interpreter: str, env: Mapping[str, str]) -> bool:
    if _same_interpreter(interpreter):
        return False
    try:
        done = subprocess.run(
            [interpreter, "-c", _CAN_IMPORT],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False  # cannot tell: let the bootstrap warn in the process itself
    return done.returncode == 3


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _module_command(server: str, args: Sequence[str]) -> str:
    return " ".join(["lifespan-state run -- python3 -m", server, *args[1:]])


def _foreign_server(server: str, path: str, interpreter: str, args: Sequence[str]) -> str:
    """The message for a server script on an interpreter that cannot import lifespan_state."""
    if _has_module(server):
        advice = f"Run it on the launcher's Python instead: `{_module_command(server, args)}`."
    else:
        advice = (
            f"Install {server} next to the shim (`{sys.executable} -m pip install {server}`), then "
            f"run `{_module_command(server, args)}`."
        )
    return (
        f"{path} runs on {interpreter}, which cannot import lifespan_state (installed for "
        f"{sys.executable}): the server would run without the shim. {advice}"
    )


def _not_installed(server: str, command: str, args: Sequence[str]) -> str:
    if _has_module(server):
        # Debian's python3-uvicorn: the module is there, the command is not.
        return (
            f"there is no `{command}` command here, but {sys.executable} has the {server} module: "
            f"`{_module_command(server, args)}`"
        )
    return (
        f"{server} is not installed here (no `{command}` on PATH). Install it into the "
        f"environment you run the launcher from (`pip install {server}`), or activate "
        "that environment first."
    )


def _interpreter_flags(path: str, args: Sequence[str]) -> Optional[str]:
    """-I, -E or -S given to a Python command: the bootstrap cannot run there."""
    if not _PYTHON_NAME.fullmatch(os.path.basename(path)):
        return None
    for arg in args[1:]:
        if not arg.startswith("-") or arg.startswith("--") or arg in {"-c", "-m"}:
            break
        letters = arg[1:]
        for flag, why in (("I", "isolated mode"), ("E", "ignores PYTHONPATH"), ("S", "skips sitecustomize")):
            if flag in letters:
                return f"-{flag} ({why})"
        if letters[-1:] in {"c", "m", "W", "X"}:
            break  # the option takes the next word
    return None


def _disable_note(env: Mapping[str, str]) -> Optional[Tuple[str, bool]]:
    value = env.get(DISABLE_ENV)
    if value is None or not value.strip():
        return None
    return value, disabled_by_env()


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
    server = _server_commands().get(os.path.basename(command))
    if path is None:
        if server is not None:
            return _error(_not_installed(server, command, args), 127)
        return _error(f"command not found: {command!r} (not on PATH and not an executable file)", 127)
    interpreter = _shebang(path, env)
    if interpreter is not None and _cannot_import_us(interpreter, env):
        if server is not None:
            return _error(_foreign_server(server, path, interpreter, args), 127)
        _note(
            f"warning: {path} runs on {interpreter}, which cannot import lifespan_state: the shim "
            f"stays off in that process (installed for {sys.executable})."
        )
    flags = _interpreter_flags(path, args)
    if flags is not None:
        _note(f"warning: Python with {flags} does not run the launcher's bootstrap: the shim stays off.")
    disable = _disable_note(env)
    if disable is not None:
        value, off = disable
        if off:
            _note(f"{DISABLE_ENV}={value} is set: the shim stays off in this command and all it starts.")
        else:
            _note(
                f"warning: {DISABLE_ENV}={value!r} is not one of 1, true, yes, on: the shim stays on "
                f"(unset {DISABLE_ENV} or set it to 1 to switch it off)."
            )
    if _PYTHON_NAME.fullmatch(os.path.basename(path)):
        # Python finds its virtual environment from the path it was started by: a bare "python"
        # in argv[0] would be looked up on PATH again and run the base interpreter.
        args[0] = os.path.abspath(path)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(path, args, env)
    except OSError as exc:
        return _error(f"cannot run {command!r}: {exc.strerror or exc}", 126)
    return 0  # pragma: no cover - execve does not return
