"""What the offline ``unit`` tier shares: stub servers (tests/stubs/) run in fresh interpreters.

:func:`run_steps` runs ``tests/scripts/unit_run.py`` with this interpreter, the stub packages first
on ``PYTHONPATH`` and distribution metadata giving the stub the release wanted, so the shims and
the registry see an "installed" server of that version. No network, no per-release environment.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from lifespan_state._versions import SUPPORTED

TESTS = Path(__file__).resolve().parent
STUBS = TESTS / "stubs"
SCRIPT = TESTS / "scripts" / "unit_run.py"


def stub_package(server: str) -> Path:
    """The stub of ``server`` (a ``SUPPORTED`` key): the directory of its top-level import name."""
    return STUBS / SUPPORTED[server].imports[0].partition(".")[0]


#: The shims with a stub server here (the generated tests run for these).
STUBBED = sorted(name for name in SUPPORTED if (stub_package(name) / "__init__.py").exists())
MISSING = sorted(set(SUPPORTED) - set(STUBBED))


def stub_hooks(server: str) -> Tuple[str, ...]:
    """The stub's ``STUB_HOOKS``, read from its source (importing it here would shadow nothing, but
    the test process must never import a server)."""
    tree = ast.parse((stub_package(server) / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "STUB_HOOKS" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"{stub_package(server)}/__init__.py defines no STUB_HOOKS")


def _metadata(directory: Path, server: str, version: str) -> None:
    info = directory / f"{server.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {server}\nVersion: {version}\n")


def run_steps(
    server: str,
    steps: Sequence[str],
    tmp: Path,
    version: Optional[str] = None,
    state: bool = False,
    **env: str,
) -> Dict[str, Any]:
    """``unit_run.py SERVER STEPS`` against the stub of ``server`` at ``version`` (default: the
    oldest supported; None-like ``""``: not installed), its code with lifespan state if ``state``."""
    site = tmp / "site"
    site.mkdir(parents=True, exist_ok=True)
    release = SUPPORTED[server].minimum if version is None else version
    if release:
        _metadata(site, server, release)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LIFESPAN_STATE_", "STUB_"))}
    environ.update(PYTHONPATH=os.pathsep.join([str(STUBS), str(site)]), STUB_STATE="1" if state else "0")
    environ.update(env)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), server, ",".join(steps)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: Dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
