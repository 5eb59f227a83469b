"""Faults behave exactly as on the native server.

Each scenario of ``scripts/reliability_scenarios.py`` runs three times: on the old release with the
shim, on the same release without it, and on a native release (uvicorn 0.21.1, hypercorn 0.18.0).
What the app and the clients observed must match

* the native release in everything about state (what each scope's ``state`` held), and
* the same release without the shim in everything else (status codes, the messages the app got,
  WebSocket close codes): the shim changes nothing but state.

The same release without the shim is also the negative control: its state view differs from the
native one (there is no state at all), so the state comparison can fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from tools.envs import EnvSpec, ensure_env
from tools.releases import SERVERS

from lifespan_state.check._runner import ServerProcess, ServerStartError, free_port
from script_support import SCRIPTS

SCRIPT = SCRIPTS / "reliability_scenarios.py"
EXTRA = ("wsproto", "h2")  # the soak's environments: one set of venvs for all reliability tests

#: server -> (old release the shim serves, native reference release)
RELEASES: Dict[str, Tuple[str, str]] = {
    name: (SERVERS[name].soaked, SERVERS[name].reference) for name in ("uvicorn", "hypercorn")
}
SCENARIOS = ["request_raise", "disconnects", "shutdown_inflight", "two_runs", "replace_state"]


def env(server: str, version: str) -> Path:
    return ensure_env(EnvSpec(server, version, extra=EXTRA))


def clean_environ(**extra: str) -> Dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFESPAN_STATE")}
    environ.update(extra)
    return environ


_RESULTS: Dict[Tuple[str, str, bool], Dict[str, Any]] = {}


def scenario(server: str, version: str, name: str, shim: bool) -> Dict[str, Any]:
    """One scenario's observations; all scenarios of a (release, shim) run in one interpreter."""
    key = (server, version, shim)
    if key not in _RESULTS:
        python = env(server, version) / "bin" / "python"
        cmd = [str(python), str(SCRIPT), server, "all"] + (["--shim"] if shim else [])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=clean_environ())
        assert out.returncode == 0, f"{server} {version}: {out.stderr[-3000:]}"
        _RESULTS[key] = json.loads(out.stdout.strip().splitlines()[-1])
    return _RESULTS[key][name]


def is_state_view(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) == {"keys", "token_is_current_run"}) or value == "None"


def server_view(value: Any) -> Any:
    """Everything but state: each state description becomes a placeholder."""
    if is_state_view(value):
        return "<state>"
    if isinstance(value, dict):
        return {k: server_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [server_view(v) for v in value]
    return value


def state_view(value: Any) -> Any:
    """Everything about state: release-specific details (WebSocket close codes) are dropped."""
    if isinstance(value, dict):
        return {k: state_view(v) for k, v in value.items() if k != "ws_disconnect"}
    if isinstance(value, list):
        return [state_view(v) for v in value]
    return value


@pytest.fixture(scope="module", params=["uvicorn", "hypercorn"])
def server(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("name", SCENARIOS)
def test_fault_behaves_as_native(server: str, name: str) -> None:
    old, native = RELEASES[server]
    shimmed = scenario(server, old, name, shim=True)
    plain = scenario(server, old, name, shim=False)
    reference = scenario(server, native, name, shim=False)
    assert state_view(shimmed) == state_view(reference)
    assert server_view(shimmed) == server_view(plain)
    # Negative control: without the shim the old release has no state, so the comparison can fail.
    assert state_view(plain) != state_view(reference)
    check_facts(name, shimmed)


def lifespan_keys(result: Dict[str, Any], event: str) -> Any:
    return [e[event]["keys"] for e in result["events"] if event in e]


def check_facts(name: str, result: Dict[str, Any]) -> None:
    """What the comparison implies, spelled out (so a change in both servers cannot hide it)."""
    ok = {"keys": ["pool", "token"], "token_is_current_run": True}
    assert result.get("error", "None") == "None"
    if name == "request_raise":
        assert result["fresh"] == [[200, ok], [500, None], [200, ok]]
    elif name == "disconnects":
        reads = [e["read"] for e in result["events"] if "read" in e]
        assert reads == [["http.request", "http.disconnect"]]
        assert sum("ws_disconnect" in e for e in result["events"]) == 2
        assert result["after"] == [[200, ok], [200, ok]]
    elif name == "shutdown_inflight":
        written = dict(ok, keys=["pool", "token", "written_by"])
        assert result["responses"] == [[200, written]] * 4
        # Shutdown ran after the in-flight requests and saw the lifespan's own keys and objects.
        assert [e["shutdown"] for e in result["events"] if "shutdown" in e] == [{"in_flight": 0, "keys": ok}]
    elif name == "two_runs":
        empty = {"keys": [], "token_is_current_run": False}
        assert lifespan_keys(result, "startup") == [empty, empty]
        assert result["seen"] == [[200, ok], [200, ok]]
    elif name == "replace_state":
        # Natively (uvicorn 0.21.1, hypercorn 0.18.0) requests keep getting copies of the dict the
        # server created; a replacement made by the app is its own business.
        assert [seen[1]["keys"] for seen in result["seen"]] == [[], []]


def test_lifespan_unsupported_requests_still_get_a_dict(server: str) -> None:
    """An app that raises on the lifespan scope (lifespan 'auto'): requests get an empty dict (S8)."""
    old, native = RELEASES[server]
    shimmed = scenario(server, old, "lifespan_unsupported", shim=True)
    reference = scenario(server, native, "lifespan_unsupported", shim=False)
    assert state_view(shimmed) == state_view(reference)
    assert [seen[1]["keys"] for seen in shimmed["seen"]] == [[], []]


# -- lifespan startup failures: real server processes, the exit and the log ---------------------


def start_failing(server: str, version: str, mode: str, shim: bool, tmp: Path) -> Tuple[str, str]:
    """("exit <code>" or "serving", log) for a server whose app fails its lifespan startup."""
    python = str(env(server, version) / "bin" / "python")
    port = free_port()
    if server == "uvicorn":
        cmd = [python, "-m", "uvicorn", "startup_app:app", "--lifespan", "on", "--port", str(port)]
    else:
        cmd = [python, "-m", "hypercorn", "startup_app:app", "--bind", f"127.0.0.1:{port}"]
    environ = clean_environ(STARTUP_MODE=mode, PYTHONPATH=str(SCRIPTS))
    if shim:
        environ["WITH_SHIM"] = "1"
    process = ServerProcess(cmd, port=port, env=environ, cwd=str(tmp), start_timeout=60)
    try:
        process.start()
        outcome = "serving"  # the server went on without lifespan support
    except ServerStartError as exc:
        exited = str(exc).startswith("server exited")
        outcome = f"exit {process.returncode}" if exited else "timeout"
    finally:
        process.stop()
    return outcome, process.output


@pytest.mark.parametrize("mode", ["raise", "failed"])
def test_startup_failure_behaves_as_native(server: str, mode: str, tmp_path: Path) -> None:
    """uvicorn exits (code 3) either way; hypercorn exits on ``startup.failed`` and, when the app
    raises, goes on without lifespan support (native 0.18.0 does the same). The shim changes
    none of it and the app's message reaches the log."""
    old, native = RELEASES[server]
    message = "database unreachable: 7f3a-raised" if mode == "raise" else "database unreachable: 9c1e-failed"
    outcome, log = start_failing(server, old, mode, shim=True, tmp=tmp_path)
    plain_outcome, plain_log = start_failing(server, old, mode, shim=False, tmp=tmp_path)
    native_outcome, native_log = start_failing(server, native, mode, shim=False, tmp=tmp_path)
    assert "lifespan state given: True" in log and "lifespan state given: False" in plain_log
    assert "lifespan state given: True" in native_log
    assert outcome == plain_outcome, log
    assert outcome.split()[0] == native_outcome.split()[0], (log, native_log)
    if mode == "failed" or server == "uvicorn":
        # uvicorn exits with 3; hypercorn's worker exits 0 after logging the failure.
        assert outcome == ("exit 3" if server == "uvicorn" else "exit 0")
        # The app's own message reaches the log intact, as natively.
        assert message in log and message in native_log and message in plain_log
    else:
        assert outcome == "serving"


# -- reload cycles: uvicorn --reload, each reloaded worker starts empty ---------------------------

def fetch_json(port: int) -> Any:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


@pytest.mark.slow
def test_reload_cycles_each_start_empty(tmp_path: Path) -> None:
    module = tmp_path / "reload_app.py"
    shutil.copy(SCRIPTS / "reload_app.py", module)
    python = str(env("uvicorn", RELEASES["uvicorn"][0]) / "bin" / "python")
    port = free_port()
    cmd = [python, "-m", "uvicorn", "reload_app:app", "--reload", "--reload-dir", str(tmp_path),
           "--lifespan", "on", "--port", str(port)]
    seen: List[Dict[str, Any]] = []
    with ServerProcess(cmd, port=port, env=clean_environ(), cwd=str(tmp_path), start_timeout=40,
                       stop_timeout=20) as process:
        for cycle in range(3):
            deadline = time.monotonic() + 40
            while True:
                assert time.monotonic() < deadline, process.tail(40)
                try:
                    answer = fetch_json(port)
                except OSError:
                    answer = None
                if answer and (not seen or answer["run"] != seen[-1]["run"]):
                    break
                time.sleep(0.2)
            seen.append(answer)
            # The reloader restarts the worker.
            module.write_text(module.read_text() + f"\n# edit {cycle}\n")
    assert len({answer["run"] for answer in seen}) == 3
    for answer in seen:
        # Every reloaded worker: the shim active, the lifespan starting empty, requests seeing it.
        assert (
            answer["startup_keys"] == []
            and answer["keys"] == ["run"]
            and answer["state_run"] == answer["run"]
        )
