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
