"""Bad input, misuse and coexistence with other wrapt-based instrumentation.

Each scenario of ``scripts/reliability_misuse.py`` runs in a fresh interpreter of a per-release
environment against a real in-process server, under wrapt 1.14.1 (Debian 12's) and wrapt 2.x.
Every one must end with a clear message (where there is something to say) and a server that
keeps serving.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional

import pytest
from tools.envs import EnvSpec, ensure_env
from tools.releases import DEBIAN, SERVERS

from script_support import SCRIPTS, run_json

SCRIPT = SCRIPTS / "reliability_misuse.py"
EXTRA = ("wsproto", "h2")
OLD = {name: SERVERS[name].soaked for name in ("uvicorn", "hypercorn")}
WRAPTS = {"wrapt 2.x": None, f"wrapt {DEBIAN.wrapt}": DEBIAN.wrapt}

OK = {"keys": ["pool", "token"], "token_is_current_run": True}
NO_STATE = "None"  # what the probe app reports when a scope has no state


def venv_for(server: str, wrapt: Optional[str] = None) -> Path:
    return ensure_env(EnvSpec(server, OLD[server], wrapt=wrapt, extra=EXTRA))


def run(venv: Path, server: str, scenario: str) -> Dict[str, Any]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFESPAN_STATE")}
    result, stderr = run_json([str(venv / "bin" / "python"), str(SCRIPT), server, scenario], env=environ)
    result["stderr"] = stderr
    return result


@pytest.fixture(scope="module", params=["uvicorn", "hypercorn"])
def server(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module", params=list(WRAPTS))
def wrapt_env(request: pytest.FixtureRequest, server: str) -> Path:
    venv = venv_for(server, WRAPTS[request.param])
    version = subprocess.run(
        [str(venv / "bin" / "python"), str(SCRIPTS / "dist_version.py"), "wrapt"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    assert version.startswith("1.14.") if WRAPTS[request.param] else version.startswith("2."), version
    return venv


# -- coexistence ----------------------------------------------------------------------------

def expect_coexistence(server: str, result: Dict[str, Any]) -> None:
    calls = (
        {"Config.load": 1, "LifespanOn.__init__": 1} if server == "uvicorn" else {"asyncio.worker_serve": 1}
    )
    ours = 1
    for step, seen in (("both", OK), ("deactivated", NO_STATE), ("reactivated", OK)):
        observed = result[step]
        # Theirs keeps working, exactly once per server run, whatever we did.
        assert observed["agent_calls"] == calls, step
        # Ours works while active, is gone after deactivate(), and is back exactly once.
        assert observed["seen"] == seen, step
        expected_depth = 0 if step == "deactivated" else ours
        assert set(observed["depths"].values()) <= {0, expected_depth}, (step, observed["depths"])
        if server == "uvicorn":
            assert observed["depths"]["LifespanOn.__init__"] == expected_depth, step
        else:
            assert observed["depths"]["hypercorn.asyncio.worker_serve"] == expected_depth, step


@pytest.mark.parametrize("order", ["coexist_agent_first", "coexist_agent_after"])
def test_coexists_with_a_tracing_agent(server: str, wrapt_env: Path, order: str) -> None:
    expect_coexistence(server, run(wrapt_env, server, order))


# -- misuse ---------------------------------------------------------------------------------


def test_deactivate_while_a_server_runs(server: str, wrapt_env: Path) -> None:
    result = run(wrapt_env, server, "deactivate_while_running")
    assert result["before"] == OK
    # The running server keeps its state: requests after deactivate() still get their copies.
    assert result["after"] == [OK, OK, OK]
    assert set(result["depths"].values()) == {0}
    # A run started afterwards is the plain server again.
    assert result["next_run"] == NO_STATE
    assert result["error"] == "None"


def test_config_served_again_after_deactivate_never_sees_the_old_run(server: str) -> None:
    """uvicorn keeps the shim's wrapper in ``config.loaded_app``; serving that config again after
    deactivate() must not hand the new run the previous run's namespace (S9)."""
    result = run(venv_for(server), server, "deactivate_between_runs")
    assert result["errors"] == ["None", "None"]
    first_startup, second_startup = result["startups"]
    assert first_startup == {"keys": [], "token_is_current_run": False}
    # The second run starts empty (or without state, as the plain server) ...
    assert second_startup in ({"keys": [], "token_is_current_run": False}, NO_STATE)
    # ... and its requests see its own objects, never the first run's.
    assert result["seen"][0] == OK and result["seen"][1] in (OK, NO_STATE)


def test_state_app_reused_for_a_second_run_starts_empty() -> None:
    """The unit behind the test above: a second lifespan scope on one StateApp is a new run."""
    import asyncio

    from lifespan_state._core import StateApp

    seen = []

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(dict(scope["state"]))
        scope["state"]["pool"] = len(seen)

    state_app = StateApp(app)
    for _ in range(2):
        asyncio.run(state_app({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert seen == [{}, {}]
    http: Dict[str, Any] = {"type": "http"}
    asyncio.run(state_app(http, None, None))  # type: ignore[arg-type]
    assert seen[-1] == {"pool": 2}  # the second run's object, not the first's


@pytest.mark.parametrize("when", ["threads_before_import", "threads_after_import"])
def test_activate_from_many_threads_wraps_once(server: str, wrapt_env: Path, when: str) -> None:
    result = run(wrapt_env, server, when)
    assert result["errors"] == []
    if server == "uvicorn":
        assert result["depths"]["LifespanOn.__init__"] == 1
    else:
        assert set(result["depths"].values()) == {1}
    assert result["seen"] == OK


def test_activation_while_a_server_runs(server: str) -> None:
    result = run(venv_for(server), server, "activate_while_running")
    # The running server goes on as it was (no crash, no state half-added), also after a second
    # activation from another thread; the next run has state.
    assert result["before"] == result["during"] == NO_STATE
    assert result["after"] == [NO_STATE, NO_STATE]
    assert result["next_run"] == OK and result["error"] == "None"
    # Activation from inside the running server is told, once, with what to do instead.
    late = [w for w in result["warnings"] if w.startswith("ActivationTooLateWarning")]
    assert len(late) == 1 and "import lifespan_state.auto" in late[0], result["warnings"]


# -- bad distribution metadata ------------------------------------------------------------------


def tampered(server: str, how: str, tmp_path: Path) -> Path:
    """A throwaway copy of the release environment with its server's METADATA edited."""
    base = venv_for(server)
    copy = tmp_path / "venv"
    shutil.copytree(base, copy, symlinks=True)
    site = next((copy / "lib").glob("python*/site-packages"))
    dist_info = next(site.glob(f"{server}-*.dist-info"))
    metadata = dist_info / "METADATA"
    text = metadata.read_text()
    if how == "missing":
        shutil.rmtree(dist_info)
    elif how == "no-version-field":
        metadata.write_text(re.sub(r"(?m)^Version: .*\n", "", text))
    elif how == "garbage-version":
        metadata.write_text(re.sub(r"(?m)^Version: .*$", "Version: not-a-version!", text))
    else:
        metadata.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {how}", text))
    return copy


def test_unknown_newer_release_is_probed_and_served(server: str, tmp_path: Path) -> None:
    venv = tampered(server, "99.0", tmp_path)
    result = run(venv, server, "release_metadata")
    assert result["error"] is None
    status = result["status"]
    assert status["installed"] == "99.0"
    # A release newer than tested is decided by probing the code: 0.17.6 / 0.16.0 code has no state.
    assert status["mode"] == "add"
    assert "99.0" in status["reason"] and "newer than tested" in status["reason"]
    assert result["seen"] == OK


@pytest.mark.parametrize("how", ["missing", "no-version-field", "garbage-version"])
def test_broken_or_missing_metadata_falls_back_to_probes(server: str, how: str, tmp_path: Path) -> None:
    venv = tampered(server, how, tmp_path)
    result = run(venv, server, "release_metadata")
    assert result["error"] is None
    assert result["status"]["installed"] is None
    assert result["status"]["mode"] == "add"
    assert result["status"]["reason"]  # says where the decision came from
    assert result["seen"] == OK


def test_too_old_release_is_refused_clearly_and_left_working(server: str, tmp_path: Path) -> None:
    venv = tampered(server, "0.1.0", tmp_path)
    explicit = run(venv, server, "release_metadata")
    error = explicit["error"]
    assert error is not None and error.startswith("UnsupportedServerError")
    assert f"{server} 0.1.0 is not supported" in error and "pip install" in error
    # Nothing wrapped, and the server serves as it does alone.
    assert set(explicit["depths"].values()) == {0}
    assert explicit["seen"] == NO_STATE
    automatic = run(venv, server, "release_metadata_auto")
    assert set(automatic["depths"].values()) == {0}
    assert automatic["seen"] == NO_STATE
    # Automatic activation never raises: it logs the same message once.
    assert automatic["stderr"].count("0.1.0 is not supported") == 1
