"""Shared test setup: makes ``tools`` and the shared helpers importable, and marks each test by tier.

The tiers are directories (docs/MAINTAINERS.md, "Test tiers"): ``tests/unit`` (offline, seconds),
``tests/integration`` (real servers and harnesses, per-release environments) and ``tests/matrix``
(the generated documents, the matrix plan and its shards, the workflows). Each test gets its
directory's marker, so ``pytest -m unit`` selects exactly ``tests/unit``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# ROOT for ``tools``; TESTS for the helpers the tiers share (script_support, unit_support), which
# live beside this file rather than beside the test modules that import them.
for _path in (ROOT, TESTS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


import pytest  # noqa: E402

TIERS = ("unit", "integration", "matrix")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker (pytest's own hook of this name)
def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        path = item.path.resolve()
        if TESTS in path.parents and path.relative_to(TESTS).parts[0] in TIERS:
            item.add_marker(path.relative_to(TESTS).parts[0])


@pytest.fixture(scope="session")
def uvicorn_0176() -> Path:
    """Debian 12's uvicorn (0.17.6) in its own environment: shared by the status and activation tests."""
    from tools.envs import EnvSpec, ensure_env
    from tools.releases import SERVERS

    return ensure_env(EnvSpec("uvicorn", SERVERS["uvicorn"].debian))
