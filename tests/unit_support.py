"""What the offline ``unit`` tier shares: stub servers (tests/stubs/) run in fresh interpreters.

:func:`run_steps` runs ``tests/scripts/unit_run.py`` with this interpreter, the stub packages first
on ``PYTHONPATH`` and distribution metadata giving the stub the release wanted, so the shims and
the registry see an "installed" server of that version. No network, no per-release environment.

The child runs with ``-S`` (no site-packages) and sees only the stubs, that metadata, our package
and its two dependencies: a real server installed beside the tests (the test dependency group brings
Starlette and asgi-lifespan) can neither shadow a stub nor lend it its metadata.
"""

from __future__ import annotations

import ast
import atexit
import functools
import importlib.util
import os
import shutil
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

from lifespan_state._versions import SUPPORTED
from script_support import SCRIPTS, TESTS, run_json

STUBS = TESTS / "stubs"
SCRIPT = SCRIPTS / "unit_run.py"


def stub_package(server: str) -> Path:
    """The stub of ``server`` (a ``SUPPORTED`` key): the directory of its top-level import name."""
    return STUBS / SUPPORTED[server].imports[0].partition(".")[0]


#: The shims with a stub server here (the generated tests run for these).
STUBBED = sorted(name for name in SUPPORTED if (stub_package(name) / "__init__.py").exists())


def stub_hooks(server: str) -> Tuple[str, ...]:
    """The stub's ``STUB_HOOKS``, read from its source (importing it here would shadow nothing, but
    the test process must never import a server)."""
    tree = ast.parse((stub_package(server) / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "STUB_HOOKS" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"{stub_package(server)}/__init__.py defines no STUB_HOOKS")


@functools.lru_cache(maxsize=None)
def _packages() -> str:
    """A directory holding only lifespan_state, wrapt and packaging (links to the installed ones)."""
    directory = Path(tempfile.mkdtemp(prefix="unit-packages-"))
    atexit.register(shutil.rmtree, directory, True)
    for name in ("lifespan_state", "wrapt", "packaging"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, f"{name} is not installed"
        (directory / name).symlink_to(Path(spec.origin).parent, target_is_directory=True)
    return str(directory)


def first_mode(server: str) -> str:
    """The mode of the oldest supported release: "add" where it has no lifespan state (uvicorn,
    hypercorn), else what the shim does with the state it has (gunicorn 24.0.0: "fix")."""
    return SUPPORTED[server].ranges[0].mode


def _metadata(directory: Path, server: str, version: str) -> None:
    info = directory / f"{server.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {server}\nVersion: {version}\n")


def run_steps(
    server: str,
    steps: Sequence[str],
    tmp: Path,
    version: Optional[str] = None,
    state: Optional[bool] = None,
    **env: str,
) -> Dict[str, Any]:
    """``unit_run.py SERVER STEPS`` against the stub of ``server`` at ``version`` (default: the
    oldest supported; None-like ``""``: not installed), its code with lifespan state if ``state``
    (default: as the oldest supported release has it, see :func:`first_mode`)."""
    release = SUPPORTED[server].minimum if version is None else version
    if state is None:
        state = first_mode(server) != "add"
    site = tmp / "site"
    site.mkdir(parents=True, exist_ok=True)
    if release:
        _metadata(site, server, release)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LIFESPAN_STATE_", "STUB_"))}
    path = os.pathsep.join([str(STUBS), str(site), _packages()])
    environ.update(PYTHONPATH=path, STUB_STATE="1" if state else "0")
    environ.update(env)
    return run_json([sys.executable, "-S", str(SCRIPT), server, ",".join(steps)], env=environ, timeout=60)[0]


#: One run: (server, steps, version, state), as :func:`run_steps` takes them.
Run = Tuple[str, Tuple[str, ...], Optional[str], Optional[bool]]


class Runs:
    """Runs of :func:`run_steps` started ahead, one per core at a time (each still a fresh
    interpreter of its own), so that a module's generated tests do not wait for one interpreter
    after the other. ``get(run)`` is that run's result, or raises its failure, in its own test."""

    def __init__(self, tmp: Path, runs: Iterable[Run]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
        self._futures: Dict[Run, Future[Dict[str, Any]]] = {}
        for i, run in enumerate(dict.fromkeys(runs)):
            server, steps, version, state = run
            directory = tmp / f"run{i}"
            self._futures[run] = self._pool.submit(run_steps, server, steps, directory, version, state)

    def get(self, run: Run) -> Dict[str, Any]:
        return self._futures[run].result()

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._pool.shutdown()
