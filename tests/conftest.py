"""Shared test setup: makes ``tools`` importable (per-release environments live there)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def uvicorn_0176() -> Path:
    """Debian 12's uvicorn (0.17.6) in its own environment: shared by the status and activation tests."""
    from tools.envs import EnvSpec, ensure_env
    from tools.releases import SERVERS

    return ensure_env(EnvSpec("uvicorn", SERVERS["uvicorn"].debian))
