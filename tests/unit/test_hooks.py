"""The package's own post-import hooks (``_hooks``), against real modules written to a temp dir.

Each case runs in a fresh interpreter: hooks and ``sys.meta_path`` are process state.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from script_support import SCRIPTS, run_json

SCRIPT = SCRIPTS / "hooks_order.py"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hooks")
    package = root / "demo_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sub.py").write_text("VALUE = 42\n")
    (package / "broken.py").write_text("raise RuntimeError('broken on purpose')\n")
    for name in ("warns", "warns_too"):
        (package / f"{name}.py").write_text(
            f"import warnings\nwarnings.warn('{name} is deprecated', DeprecationWarning, stacklevel=2)\n"
        )
    return root


def run(tree: Path, order: str) -> Dict[str, Any]:
    return run_json([sys.executable, str(SCRIPT), str(tree), order], timeout=60)[0]


def test_hook_registered_before_the_import_runs_after_it(tree: Path) -> None:
    result = run(tree, "before")
    assert result["seen"] == [["demo_pkg.sub", 42]]
    # The module never sees our loader, and waiting costs none of the heavy imports.
    assert result["loader_is_real"] and result["spec_loader_is_real"]
    assert result["pending"] == [] and result["heavy"] == []


def test_hook_registered_after_the_import_runs_at_once(tree: Path) -> None:
    assert run(tree, "after")["seen"] == [["demo_pkg.sub", 42]]


def test_a_failed_import_keeps_the_hook_waiting(tree: Path) -> None:
    result = run(tree, "failing-import")
    assert result["seen"] == [] and result["pending"] == ["demo_pkg.broken"]


def test_a_raising_hook_neither_breaks_the_import_nor_the_other_hooks(tree: Path) -> None:
    assert run(tree, "raising-hook")["seen"] == ["demo_pkg.sub"]


def test_a_warning_at_import_names_the_importer_not_the_hook(tree: Path) -> None:
    """A module that warns as it is imported (``stacklevel=2``, as Starlette's deprecations do)
    names the line that imported it, with a hook waiting for it as without one."""
    seen = run(tree, "warning")["seen"]
    assert seen[0] == "demo_pkg.warns"  # the hook ran
    script = str(SCRIPT)
    assert seen[1:] == [
        {"message": "warns is deprecated", "file": script, "line": "hooked import"},
        {"message": "warns_too is deprecated", "file": script, "line": "plain import"},
    ], seen
