"""The package's own post-import hooks (``_hooks``), against real modules written to a temp dir.

Each case runs in a fresh interpreter: hooks and ``sys.meta_path`` are process state.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict

import pytest

PROGRAM = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from lifespan_state import _hooks
    seen = []
    order = sys.argv[2]
    if order == "before":
        _hooks.when_imported("demo_pkg.sub", lambda m: seen.append((m.__name__, m.VALUE)))
        import demo_pkg.sub
    elif order == "after":
        import demo_pkg.sub
        _hooks.when_imported("demo_pkg.sub", lambda m: seen.append((m.__name__, m.VALUE)))
    elif order == "failing-import":
        _hooks.when_imported("demo_pkg.broken", lambda m: seen.append(m.__name__))
        try:
            import demo_pkg.broken
        except RuntimeError:
            pass
        sys.modules.pop("demo_pkg.broken", None)
    elif order == "raising-hook":
        def bad(m):
            raise ValueError("hook bug")
        _hooks.when_imported("demo_pkg.sub", bad)
        _hooks.when_imported("demo_pkg.sub", lambda m: seen.append(m.__name__))
        import demo_pkg.sub
    import demo_pkg.sub as sub
    print(json.dumps({
        "seen": seen,
        "loader_is_real": type(sub.__loader__).__name__ == "SourceFileLoader",
        "spec_loader_is_real": type(sub.__spec__.loader).__name__ == "SourceFileLoader",
        "pending": _hooks.pending(),
        "heavy": sorted(m for m in ("wrapt", "typing", "logging", "importlib.metadata") if m in sys.modules),
    }))
    """
)


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
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tree), order], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: Dict[str, Any] = json.loads(done.stdout)
    return result


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
