"""The test-harness shims against real harnesses: asgi-lifespan + httpx, Starlette's TestClient.

Each case runs ``tests/scripts/harness_runs.py`` in a fresh interpreter of its own per-release
environment (``tools.envs``): two lifespan runs of three requests each through the real harness
and a real Starlette (or FastAPI) app, every request's state compared by identity with what its
run stored. The harnesses alone are the negative controls: asgi-lifespan 2.1.0 shows the second
request the first one's write, the TestClient starts its second run with the first run's keys,
asgi-lifespan 2.0.0 has no state at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest
from tools.envs import EnvSpec, activated_env, ensure_env

from script_support import SCRIPTS

RUNS = SCRIPTS / "harness_runs.py"

#: harness -> (distribution, release) -> what it needs next to it (httpx and anyio of its time).
ENVS: Dict[Tuple[str, str], Tuple[str, ...]] = {
    ("asgi-lifespan", "2.1.0"): ("starlette==1.10.0", "httpx==0.28.1", "anyio"),
    ("asgi-lifespan", "2.0.0"): ("starlette==1.10.0", "httpx==0.28.1", "anyio"),
    ("starlette", "1.10.0"): ("httpx==0.28.1",),
    # 0.26.0 (the first release with lifespan state) was written against httpx 0.23 and anyio 3.
    ("starlette", "0.26.0"): ("httpx==0.23.3", "anyio<4"),
    # The harnesses that drop lifespan state, driving a Starlette app.
    ("async-asgi-testclient", "1.4.11"): ("starlette==1.10.0",),
    ("litestar", "2.25.0"): ("starlette==1.10.0", "httpx==0.28.1"),
}


def python_of(distribution: str, version: str) -> Path:
    env = ensure_env(EnvSpec(distribution, version, python="3.11", extra=ENVS[(distribution, version)]))
    return env / "bin" / "python"


def run(
    harness: str, app: str, activation: str, python: Optional[Path] = None, *, ok: bool = True
) -> Dict[str, Any]:
    python = python or Path(sys.executable)
    out = subprocess.run(
        [str(python), "-W", "ignore", str(RUNS), harness, app, activation],
        env=activated_env(python.parent),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if not ok:
        assert out.returncode != 0, out.stdout
        return {"stderr": out.stderr}
    assert out.returncode == 0, out.stderr
    result: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def two_runs_only_own_keys(result: Dict[str, Any]) -> None:
    assert result["runs"] == 2
    assert result["violations"] == []
    assert result["seen"] == [["hits", "pool", "run0"]] * 3 + [["hits", "pool", "run1"]] * 3


# --- asgi-lifespan ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def asgi_lifespan_210() -> Path:
    return python_of("asgi-lifespan", "2.1.0")


@pytest.mark.parametrize("activation", ["auto-first", "activate-after"])
def test_asgi_lifespan_210_each_request_sees_only_its_runs_objects(
    asgi_lifespan_210: Path, activation: str
) -> None:
    result = run("asgi-lifespan", "starlette", activation, asgi_lifespan_210)
    two_runs_only_own_keys(result)
    status = result["status"]
    assert (status["installed"], status["mode"]) == ("2.1.0", "fix")
    assert status["patched"] == [
        "asgi_lifespan._manager.LifespanManager.__init__",
        "asgi_lifespan._manager.LifespanManager.startup",
        "asgi_lifespan._manager.LifespanManager.shutdown",
    ]


def test_asgi_lifespan_210_alone_shows_a_request_the_previous_ones_write(asgi_lifespan_210: Path) -> None:
    result = run("asgi-lifespan", "starlette", "none", asgi_lifespan_210)
    # The second request of each run sees the key the first one wrote: the manager's dict itself.
    assert result["seen"][1] == ["hits", "pool", "run0", "written"]
    assert result["seen"][4] == ["hits", "pool", "run1", "written"]
    assert len(result["violations"]) == 4
    assert result["status"]["mode"] is None


def test_asgi_lifespan_deactivated_is_the_plain_harness(asgi_lifespan_210: Path) -> None:
    result = run("asgi-lifespan", "starlette", "activate-deactivate", asgi_lifespan_210)
    assert result["seen"][1] == ["hits", "pool", "run0", "written"]
    assert result["status"]["patched"] == [] and result["status"]["mode"] is None


def test_asgi_lifespan_forgotten_manager_names_the_missing_key(asgi_lifespan_210: Path) -> None:
    shimmed = run("asgi-lifespan", "starlette", "auto-first", asgi_lifespan_210)
    assert shimmed["forgot"] == [
        "MissingStateError: lifespan state has no key 'db': the lifespan of this LifespanManager has "
        "not run, so nothing it stores is in the request. Run it first: `async with "
        "LifespanManager(app) as manager:` and send the requests to `manager.app` inside that block."
    ]
    assert run("asgi-lifespan", "starlette", "none", asgi_lifespan_210)["forgot"] == ["KeyError: 'db'"]


def test_asgi_lifespan_200_gets_state_added() -> None:
    python = python_of("asgi-lifespan", "2.0.0")
    result = run("asgi-lifespan", "starlette", "auto-first", python)
    two_runs_only_own_keys(result)
    assert (result["status"]["installed"], result["status"]["mode"]) == ("2.0.0", "add")
    # Alone, 2.0.0 has no lifespan state: Starlette refuses a lifespan that yields state.
    alone = run("asgi-lifespan", "starlette", "none", python, ok=False)
    assert 'The server does not support "state" in the lifespan scope' in alone["stderr"]


# --- Starlette's TestClient -------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.10.0", "0.26.0"])
@pytest.mark.parametrize("activation", ["auto-first", "activate-after"])
def test_testclient_second_with_block_starts_empty(version: str, activation: str) -> None:
    result = run("testclient", "starlette", activation, python_of("starlette", version))
    two_runs_only_own_keys(result)
    status = result["status"]
    assert (status["installed"], status["mode"]) == (version, "fix")
    assert result["forgot"] == [
        "MissingStateError: lifespan state has no key 'db': the lifespan of this TestClient has not "
        "run, so nothing it stores is in the request. Run it with `with TestClient(app) as client:` "
        "and make the requests inside that block."
    ]


@pytest.mark.parametrize("version", ["1.10.0", "0.26.0"])
def test_testclient_alone_starts_its_second_run_with_the_first_runs_keys(version: str) -> None:
    result = run("testclient", "starlette", "none", python_of("starlette", version))
    assert result["seen"][3:] == [["hits", "pool", "run0", "run1"]] * 3
    assert len(result["violations"]) == 3
    assert result["forgot"] == ["KeyError: 'db'"]


def test_testclient_deactivated_is_the_plain_harness() -> None:
    result = run("testclient", "starlette", "activate-deactivate", python_of("starlette", "1.10.0"))
    assert result["seen"][3:] == [["hits", "pool", "run0", "run1"]] * 3
    assert result["status"]["patched"] == []


# --- FastAPI, with the releases of the test environment ---------------------------------------


@pytest.mark.parametrize("harness", ["asgi-lifespan", "testclient"])
def test_fastapi_through_both_harnesses(harness: str) -> None:
    two_runs_only_own_keys(run(harness, "fastapi", "auto-first"))
    assert run(harness, "fastapi", "none")["violations"] != []


# --- activation -------------------------------------------------------------------------------


def test_shims_load_only_with_their_harness() -> None:
    code = textwrap.dedent(
        """
        import sys
        import lifespan_state.auto
        import starlette.applications, httpx
        assert "lifespan_state._integrations.starlette_testclient._hooks" not in sys.modules
        assert "lifespan_state._integrations.asgi_lifespan._hooks" not in sys.modules
        import starlette.testclient
        assert "lifespan_state._integrations.starlette_testclient._hooks" in sys.modules
        import asgi_lifespan
        assert "lifespan_state._integrations.asgi_lifespan._hooks" in sys.modules
        import lifespan_state
        print({k: v.mode for k, v in lifespan_state.status().items()})
        """
    )
    command = [sys.executable, "-W", "ignore", "-c", code]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "'asgi-lifespan': 'fix'" in out.stdout and "'starlette': 'fix'" in out.stdout


def test_auto_import_in_a_conftest_fixes_the_testclient(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("import lifespan_state.auto  # noqa: F401\n")
    (tmp_path / "test_app.py").write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(SCRIPTS)!r})
            from harness_apps import Recorder, starlette_app
            from starlette.testclient import TestClient

            RECORDER = Recorder()
            CLIENT = TestClient(starlette_app(RECORDER))  # shared by both tests, as a module global

            def test_one():
                with CLIENT:
                    assert CLIENT.get("/").json()["keys"] == ["hits", "pool", "run0"]

            def test_two():
                with CLIENT:
                    assert CLIENT.get("/").json()["keys"] == ["hits", "pool", "run1"]
            """
        )
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", str(tmp_path)]
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    # Without the conftest's import the second test sees the first run's keys.
    (tmp_path / "conftest.py").unlink()
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "FAILED test_app.py::test_two" in out.stdout, out.stdout
    assert "1 failed, 1 passed" in out.stdout, out.stdout


# --- after the run (CONFORMANCE S13): a client used again once its run has ended ----------------


@pytest.mark.parametrize(("harness", "distribution", "version", "label"), [
    ("testclient", "starlette", "1.10.0", "TestClient"),
    ("asgi-lifespan", "asgi-lifespan", "2.1.0", "LifespanManager"),
])
def test_a_request_after_the_run_gets_none_of_its_objects(
    harness: str, distribution: str, version: str, label: str
) -> None:
    python = python_of(distribution, version)
    [after] = run(harness, "starlette", "auto-first", python)["after"]
    assert after.startswith(
        f"MissingStateError: lifespan state has no key 'pool': the lifespan run of this {label} has ended"
    ), after
    # The harness alone hands the request the ended run's pool: the leak the shim ends.
    assert run(harness, "starlette", "none", python)["after"] == ['200: {"pool":"pool of run 1"}']


# --- the harnesses that drop lifespan state: async-asgi-testclient, Litestar's test clients ------


def test_async_asgi_testclient_gets_state_added() -> None:
    python = python_of("async-asgi-testclient", "1.4.11")
    result = run("async-asgi-testclient", "starlette", "auto-first", python)
    two_runs_only_own_keys(result)
    assert (result["status"]["installed"], result["status"]["mode"]) == ("1.4.11", "add")
    assert result["after"][0].startswith("MissingStateError: lifespan state has no key 'pool': the "
                                         "lifespan run of this TestClient has ended")
    # Alone, its lifespan scope has no state: Starlette refuses a lifespan that yields state.
    alone = run("async-asgi-testclient", "starlette", "none", python, ok=False)
    assert 'The server does not support "state" in the lifespan scope' in alone["stderr"]


def test_async_asgi_testclient_with_the_middleware_alone() -> None:
    """Only ``app = LifespanStateMiddleware(app)``, nothing activated: the same app that cannot
    start alone (the negative control above) gets its state, each request its own copy."""
    python = python_of("async-asgi-testclient", "1.4.11")
    result = run("async-asgi-testclient", "starlette", "middleware", python)
    two_runs_only_own_keys(result)
    assert result["status"]["patched"] == [] and result["status"]["mode"] is None
    assert result["after"][0].startswith("MissingStateError: lifespan state has no key 'pool': the "
                                         "lifespan run of this app has ended")


@pytest.mark.parametrize("harness", ["litestar", "litestar-async"])
def test_litestar_test_clients_with_the_middleware_alone(harness: str) -> None:
    """Litestar's clients driving the Starlette app wrapped by the middleware alone show it its
    lifespan's keys (alone, below, they never do)."""
    result = run(harness, "starlette", "middleware", python_of("litestar", "2.25.0"))
    two_runs_only_own_keys(result)
    assert result["status"]["patched"] == [] and result["status"]["mode"] is None
    assert result["after"][0].startswith("MissingStateError: lifespan state has no key 'pool': the "
                                         "lifespan run of this app has ended")


@pytest.mark.parametrize(
    ("harness", "client"), [("litestar", "TestClient"), ("litestar-async", "AsyncTestClient")]
)
def test_litestar_test_clients_show_a_starlette_app_its_lifespan_keys(harness: str, client: str) -> None:
    python = python_of("litestar", "2.25.0")
    result = run(harness, "starlette", "auto-first", python)
    two_runs_only_own_keys(result)
    assert (result["status"]["installed"], result["status"]["mode"]) == ("2.25.0", "fix")
    assert result["after"][0].startswith(
        f"MissingStateError: lifespan state has no key 'pool': the lifespan run of this {client} has ended"
    )
    # Alone, every scope gets a fresh {}: the request never sees what the lifespan yielded.
    alone = run(harness, "starlette", "none", python, ok=False)
    assert "'State' object has no attribute 'hits'" in alone["stderr"]
