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
