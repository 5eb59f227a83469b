"""The check kit against real uvicorn releases, each in its own virtual environment.

``lifespan-state check --json`` runs inside each environment (so the servers, the probe and the
clients all run under that environment's interpreter); these tests read its JSON document. The
core cases only: every applicable check passes with the shim on 0.17.6 (add), 0.20.0 (add), 0.21.0
(fix) and 0.54.0 (native, nothing wrapped), and the negative controls fail without it. Exhaustive
per-release suites build on the same command and the Python API.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
from tools.envs import EnvSpec, ensure_env

from lifespan_state.check import (
    CHECKS,
    CheckResult,
    ResultRecord,
    ServerProcess,
    ServerStartError,
    _checks,
    free_port,
)
from lifespan_state.check._cli import render_table

#: release -> (mode the shim must pick, extra requirements)
RELEASES: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "0.17.6": ("add", ("wsproto",)),
    "0.20.0": ("add", ("wsproto",)),
    "0.21.0": ("fix", ("wsproto",)),
    "0.54.0": ("native", ("wsproto",)),
}


def _env(version: str) -> Path:
    return ensure_env(EnvSpec("uvicorn", version, extra=RELEASES[version][1]))


def _check(version: str, *args: str, timeout: float = 240) -> Tuple[int, Dict[str, Any], str]:
    venv = _env(version)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "lifespan_state", "check", "--server", "uvicorn",
         "--json", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    try:
        document = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON from check (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.returncode, document, done.stderr


@pytest.fixture(scope="module")
def shim_on_results() -> Dict[str, Tuple[int, Dict[str, Any], str]]:
    """``check --shim on`` on every core release, two at a time (two cores)."""
    for version in RELEASES:  # build environments one by one: uv shares one cache
        _env(version)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {v: pool.submit(_check, v, "--shim", "on") for v in RELEASES}
        return {v: f.result() for v, f in futures.items()}


def _statuses(record: Dict[str, Any]) -> Dict[str, str]:
    return {c["id"]: c["status"] for c in record["checks"]}


@pytest.mark.parametrize("version", list(RELEASES))
def test_every_applicable_check_passes_with_the_shim(
    shim_on_results: Dict[str, Tuple[int, Dict[str, Any], str]], version: str
) -> None:
    code, document, stderr = shim_on_results[version]
    assert document["python"].startswith("3.11")
    (record,) = document["results"]
    failed = {c["id"]: c["detail"] for c in record["checks"] if c["status"] == "fail"}
    assert failed == {}, f"uvicorn {version} with the shim:\n{json.dumps(failed, indent=2)}\n{stderr}"
    assert code == 0
    assert record["passed"] is True
    assert record["server"] == "uvicorn" and record["server_version"] == version
    assert record["shim"] == "on"
    assert record["mode"] == RELEASES[version][0]
    assert set(record["config"]) == {"http", "ws", "lifespan", "worker"}
    assert record["config"]["ws"] == "wsproto"
    statuses = _statuses(record)
    assert list(statuses) == list(CHECKS)
    # Only S12 may be skipped with the shim on, and only where the shim has work to do.
    skipped = {k for k, v in statuses.items() if v == "skip"}
    assert skipped == (set() if RELEASES[version][0] == "native" else {"S12"})


def test_native_release_is_left_unwrapped(
    shim_on_results: Dict[str, Tuple[int, Dict[str, Any], str]]
) -> None:
    (record,) = shim_on_results["0.54.0"][1]["results"]
    s12 = next(c for c in record["checks"] if c["id"] == "S12")
    assert s12["status"] == "pass", s12
    assert "nothing wrapped" in s12["detail"]


def test_negative_control_0_20_0_without_shim_fails_s1() -> None:
    code, document, _ = _check("0.20.0", "--shim", "off", "--checks", "S1,S2")
    (record,) = document["results"]
    assert record["shim"] == "off" and record["mode"] is None
    assert _statuses(record) == {"S1": "fail", "S2": "fail"}
    assert "no 'state'" in record["checks"][0]["detail"]
    assert record["passed"] is False
    assert code == 1


def test_negative_control_0_21_0_without_shim_fails_s5() -> None:
    code, document, _ = _check("0.21.0", "--shim", "off", "--checks", "S1,S3,S5")
    (record,) = document["results"]
    # 0.21.0 has lifespan state and copies it; only the per-connection sharing is wrong.
    assert _statuses(record) == {"S1": "pass", "S3": "pass", "S5": "fail"}
    assert "keep-alive" in record["checks"][2]["detail"]
    assert code == 1


def test_table_says_what_fails_natively_and_what_the_shim_fixes() -> None:
    venv = _env("0.21.0")
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "lifespan_state", "check", "--server", "uvicorn",
         "--checks", "S1,S5"],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "uvicorn 0.21.0 native" in done.stdout and "uvicorn 0.21.0 shim" in done.stdout
    assert "without the shim: FAILS S5" in done.stdout
    assert "the shim fixes S5" in done.stdout
    assert "main run" in done.stderr  # the progress line


def test_unavailable_option_is_a_clear_error() -> None:
    venv = _env("0.20.0")
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "lifespan_state", "check", "--server", "uvicorn",
         "--ws", "websockets-sansio"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 2
    assert "websockets-sansio" in done.stderr and "available" in done.stderr


# -- pieces that need no server ---------------------------------------------------------------

def test_result_record_json_round_trip_and_table() -> None:
    native = ResultRecord("uvicorn", "0.20.0", {"http": "h11"}, "off", None,
                          [CheckResult("S1", "fail", "no state"), CheckResult("S12", "skip", "off")])
    shimmed = ResultRecord("uvicorn", "0.20.0", {"http": "h11"}, "on", "add",
                           [CheckResult("S1", "pass", "ok"), CheckResult("S12", "skip", "add")])
    data = native.as_dict()
    assert list(data) == ["server", "server_version", "config", "shim", "mode", "checks", "passed"]
    assert data["passed"] is False
    assert ResultRecord.from_dict(json.loads(json.dumps(data))) == native
    table = render_table([native, shimmed])
    assert "FAIL" in table and "n/a" in table
    assert "the shim fixes S1" in table


def test_runner_reports_a_server_that_exits() -> None:
    port = free_port()
    server = ServerProcess([sys.executable, "-c", "print('bad config'); raise SystemExit(3)"],
                           port=port, start_timeout=10)
    with pytest.raises(ServerStartError) as info:
        server.start()
    assert "exited with status 3" in str(info.value)
    assert "bad config" in info.value.output


def test_runner_stops_a_listening_server() -> None:
    port = free_port()
    code = (
        "import signal, socket, sys, time\n"
        f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen()\n"
        "signal.signal(signal.SIGINT, lambda *a: sys.exit(7))\n"
        "print('listening', flush=True)\n"
        "time.sleep(60)\n"
    )
    with ServerProcess([sys.executable, "-c", code], port=port, start_timeout=10) as server:
        assert server.pid is not None
    assert server.returncode == 7
    assert "listening" in server.output


# -- every check can fail: the evaluators on observations of broken behaviour ---------------------
# (Real servers provide the failing observations above for S1, S5, S6, S8, S11 and, natively on
# hypercorn 0.18.0 trio, S7; these cover the failure shapes no installed release produces.)

LIFESPAN = {"run": 1, "pid": 5, "has_state": True, "state_type": "dict", "empty_at_startup": True,
            "keys_at_startup": [], "state_id": 100, "obj_id": 10, "items_id": 11}


def _view(keys: Tuple[str, ...] = (), **changes: Any) -> Dict[str, Any]:
    view: Dict[str, Any] = {
        "type": "http", "pid": 5, "client_port": 4000, "has_state": True, "state_type": "dict",
        "state_id": 200, "keys": sorted({"items", "obj", "run", *keys}), "run": 1, "obj_id": 10,
        "items_id": 11, "items": [], "is_lifespan_dict": False, "lifespan": dict(LIFESPAN),
        "lifespan_keys_now": ["items", "obj", "run"], "lifespan_obj_id_now": 10,
        "lifespan_runs": [dict(LIFESPAN)], "acted": {},
    }
    view.update(changes)
    return view


def _run(**steps: Any) -> Any:
    run = _checks._Run()
    run.steps.update(steps)
    return run


def test_a_correct_observation_passes() -> None:
    run = _run(first=_view(), keepalive={"views": [_view(("req-s5",)), _view(), _view()]},
               s3={"written": _view(("req-s3",)), "after": _view()},
               s4={"appended": _view(acted={"appended": ["v-s4"]}), "after": _view(items=["v-s4"])})
    assert _checks._s2(run, True).status == "pass"
    assert _checks._s3(run, True).status == "pass"
    assert _checks._s4(run, True).status == "pass"
    assert _checks._s5(run, True, {"h1"}).status == "pass"


def test_identity_and_shallowness_failures_are_caught() -> None:
    deep = _view(obj_id=99, items_id=98)  # what a deepcopy of the state would look like
    assert _checks._s2(_run(first=deep), True).status == "fail"
    run = _run(s4={"appended": _view(acted={"appended": ["v-s4"]}), "after": _view(items=[])})
    result = _checks._s4(run, True)
    assert result.status == "fail" and "not seen" in result.detail


def test_sharing_failures_are_caught() -> None:
    shared = _run(first=_view(is_lifespan_dict=True),
                  s3={"written": _view(("req-s3",)), "after": _view()})
    assert "IS the lifespan dict" in _checks._s3(shared, True).detail
    leaked = _run(keepalive={"views": [_view(("req-s5",)), _view(("req-s5",)), _view()]})
    assert "saw the key request 1 wrote" in _checks._s5(leaked, True, {"h1"}).detail
    reopened = _run(keepalive={"views": [_view(), _view(client_port=4001), _view()]})
    assert "connections, not one" in _checks._s5(reopened, True, {"h1"}).detail


def test_snapshot_and_shutdown_failures_are_caught() -> None:
    run = _run(first=_view(), s7={"trigger": _view(acted={"late_written": True}), "after": _view()})
    assert "snapshot" in _checks._s7(run, True).detail
    run = _run(first=_view())
    run.shutdown = [dict(LIFESPAN, shutdown={"has_state": True, "same_dict": False, "state_id": 300,
                                             "keys": ["items", "obj", "run"], "obj_id": 10})]
    assert "another dict" in _checks._s10(run, True).detail
    run.shutdown = []
    assert "no lifespan.shutdown" in _checks._s10(run, True).detail


def test_double_work_on_a_native_release_is_caught() -> None:
    def status(mode: str, patched: Any, apps: int) -> Any:
        acted = {"status": {"uvicorn": {"mode": mode, "patched": patched}}, "state_apps": apps}
        return _run(s12=_view(acted=acted))

    assert _checks._s12(status("native", [], 0), "uvicorn", True).status == "pass"
    assert _checks._s12(status("native", ["LifespanOn.__init__"], 1), "uvicorn", True).status == "fail"
    assert _checks._s12(status("native", [], 2), "uvicorn", True).status == "fail"
    assert _checks._s12(status("fix", ["LifespanOn.__init__"], 1), "uvicorn", True).status == "skip"
    assert _checks._s12(status("native", [], 0), "uvicorn", False).status == "skip"
