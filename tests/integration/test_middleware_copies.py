"""``LifespanStateMiddleware`` twice, on a shimmed harness or server: one copy per request on our
side (the middleware's), no ``StateApp`` of the shim in front of it, no explaining copy of the
harness shims. tests/scripts/middleware_copies.py counts them in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tools.envs import EnvSpec, activated_env, ensure_env

from script_support import SCRIPTS

SCRIPT = SCRIPTS / "middleware_copies.py"


def _counts(python: Path, harness: str) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [str(python), "-W", "ignore", str(SCRIPT), harness], env=activated_env(python.parent),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("harness", ["testclient", "asgi-lifespan"])
def test_one_copy_per_request_on_a_shimmed_harness(harness: str) -> None:
    counts = _counts(Path(sys.executable), harness)
    assert counts == {"requests": 3, "seen": [["pool"]] * 3, "middleware_copies": 3, "state_apps": 0,
                      "explaining": 0}  # fmt: skip


def test_one_copy_per_request_on_a_shimmed_server() -> None:
    # uvicorn 0.20.0 has no lifespan state: the shim would add a StateApp, but not in front of it.
    python = ensure_env(EnvSpec("uvicorn", "0.20.0")) / "bin" / "python"
    counts = _counts(python, "uvicorn")
    assert counts == {"requests": 3, "seen": [["pool"]] * 3, "middleware_copies": 3, "state_apps": 0,
                      "explaining": 0}  # fmt: skip
