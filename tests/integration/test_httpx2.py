"""The test helpers and the check kit's harnesses with either HTTP client: httpx2 alone (pydantic's
fork, which Starlette's TestClient prefers), and an environment with neither, where ``status`` must
still answer and ``check --harness`` says what to install.

Each case runs in a per-release environment of its own (``tools.envs``), so that what is *not*
installed there is really absent.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tools.envs import EnvSpec, activated_env, ensure_env

from script_support import SCRIPTS


@pytest.fixture(scope="module")
def httpx2_only() -> Path:
    env = ensure_env(EnvSpec("starlette", "1.10.0", python="3.11", extra=("httpx2",)))
    return env / "bin" / "python"


def _run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *args], env=activated_env(python.parent), capture_output=True, text=True, timeout=120
    )


_LIFESPAN_CLIENT = """
import anyio, importlib.util, sys
sys.path.insert(0, {scripts!r})
from harness_apps import APPS, Recorder
from lifespan_state.testing import http_client, lifespan_client

assert importlib.util.find_spec("httpx") is None, "httpx is installed here"
recorder = Recorder()

async def main():
    for _ in range(2):
        async with lifespan_client(APPS["starlette"](recorder)) as client:
            for _ in range(3):
                assert (await client.get("/")).status_code == 200
    print(http_client().__name__, recorder.violations(per_run=3), len(recorder.requests))

anyio.run(main)
"""


def test_lifespan_client_serves_starlette_with_httpx2_alone(httpx2_only: Path) -> None:
    done = _run(httpx2_only, "-W", "ignore", "-c", _LIFESPAN_CLIENT.format(scripts=str(SCRIPTS)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["httpx2", "[]", "6"]


def test_testclient_shim_with_httpx2_alone(httpx2_only: Path) -> None:
    done = _run(httpx2_only, "-W", "ignore", str(SCRIPTS / "harness_runs.py"), "testclient", "starlette",
                "auto-first")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"violations": []' in done.stdout and '"mode": "fix"' in done.stdout


@pytest.mark.parametrize("harness", ["testclient", "lifespan_state.testing"])
def test_the_kit_checks_a_harness_with_httpx2_alone(httpx2_only: Path, harness: str) -> None:
    done = _run(httpx2_only, "-m", "lifespan_state", "check", "--harness", harness, "--shim", "on", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    (record,) = json.loads(done.stdout)["results"]
    assert record["passed"] and record["config"]["httpx2"] and "httpx" not in record["config"]


def test_the_kit_says_which_http_clients_a_harness_can_use() -> None:
    # Starlette and no HTTP client at all: the TestClient cannot run, and the message says why.
    python = ensure_env(EnvSpec("starlette", "1.10.0", python="3.11", extra=("uvicorn",))) / "bin" / "python"
    done = _run(python, "-m", "lifespan_state", "check", "--harness", "testclient")
    assert done.returncode == 2
    assert "--harness testclient needs httpx2 or httpx installed" in done.stderr, done.stderr


def test_status_answers_where_the_testclient_cannot_be_imported() -> None:
    # uvicorn and Starlette, neither httpx nor httpx2: `import starlette.testclient` raises
    # RuntimeError here, which status reports in Starlette's row instead of a traceback.
    python = ensure_env(EnvSpec("starlette", "1.10.0", python="3.11", extra=("uvicorn",))) / "bin" / "python"
    done = _run(python, "-m", "lifespan_state", "status")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    starlette = [line for line in done.stdout.splitlines() if line.lstrip().startswith("starlette")]
    assert starlette, done.stdout
    assert "`import starlette.testclient` failed here (RuntimeError: " in done.stdout, done.stdout


def test_check_harness_testclient_with_httpx2_alone(httpx2_only: Path) -> None:
    # The kit's TestClient arm uses whichever client Starlette uses; natively S9 and S13 still fail, and
    # the exit status is the shim's arm's.
    done = _run(httpx2_only, "-m", "lifespan_state", "check", "--harness", "testclient", "--json")
    assert done.returncode == 0, done.stderr
    native, shimmed = json.loads(done.stdout)["results"]
    assert native["config"]["httpx2"] and "httpx" not in native["config"], native["config"]
    assert [c["id"] for c in native["checks"] if c["status"] == "fail"] == ["S9", "S13"]
    assert shimmed["shim"] == "on" and shimmed["passed"], shimmed["checks"]


def test_check_harness_needing_httpx_says_so_where_there_is_only_httpx2(httpx2_only: Path) -> None:
    done = _run(httpx2_only, "-m", "lifespan_state", "check", "--harness", "lifespan_state.testing")
    assert done.returncode == 0, done.stderr  # the shim's own helpers take either client
    done = _run(httpx2_only, "-m", "lifespan_state", "check", "--harness", "asgi-lifespan")
    assert done.returncode == 2 and "needs asgi-lifespan installed" in done.stderr, done.stderr
