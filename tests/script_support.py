"""Running a program of tests/scripts/ in a fresh interpreter and reading the JSON it printed.

Every such program prints its result as one JSON line, last; anything before it (a server's log,
warnings) is the program's to say. A non-zero exit fails the test with the end of its stderr.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

__all__ = ["ROOT", "SCRIPTS", "TESTS", "github_schema", "run_json"]

#: tests/ itself: the tiers (unit/, integration/, matrix/) are its subdirectories, the programs
#: and stubs they share stay here, so a test's own ``__file__`` never locates them.
TESTS = Path(__file__).resolve().parent
SCRIPTS = TESTS / "scripts"
ROOT = TESTS.parent


def run_json(
    argv: Sequence[str], *, env: Optional[Mapping[str, str]] = None, timeout: float = 90.0
) -> Tuple[Dict[str, Any], str]:
    """Run ``argv``; its last stdout line as JSON, and its stderr."""
    done = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, env=None if env is None else dict(env)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: Dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result, done.stderr


def github_schema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema's vendored GitHub schema ``schema`` (``vendor.github-workflows``,
    ``vendor.github-actions``: offline) on ``path``. Skips the test without check-jsonschema."""
    import pytest

    found = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(found).exists():
        pytest.skip("check-jsonschema is not installed "
                    "(it comes with the test dependency group: pip install -e . --group test)")
    return subprocess.run([found, "--builtin-schema", schema, str(path)], capture_output=True, text=True,
                          timeout=120)
