"""The check kit against the test harnesses, in-process: ``lifespan-state check --harness NAME``.

Each harness release runs in its own environment (the ones tests/integration/test_harness_shims.py
builds), where ``lifespan-state check --harness NAME --json --shim both`` checks it natively and
with the shim, each arm in a fresh process; these tests read its JSON document. With the shim,
asgi-lifespan 2.1.0 and Starlette 1.10.0's TestClient pass every check that applies to them; alone
they are the negative controls docs/CONFORMANCE.md ("Test harnesses") and docs/field.md describe:
asgi-lifespan hands every request the manager's dict itself (the checks of per-request isolation
fail), a TestClient used for two runs starts the second with the first run's keys (S9), and both
hand a request made after the run ended that run's objects (S13). The harnesses that drop lifespan
state are controls too: async-asgi-testclient 1.4.11 has no state in its lifespan scope, Litestar
2.25's TestClient and AsyncTestClient give a non-Litestar app's every scope a fresh ``{}``; with
the shim they pass every check that applies. ``lifespan_state.testing`` passes on its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from tools.envs import EnvSpec, activated_env, ensure_env

from lifespan_state.check import CHECKS

#: The environments of tests/integration/test_harness_shims.py (the same specs: one environment each).
ENVS = {
    "asgi-lifespan": EnvSpec("asgi-lifespan", "2.1.0", extra=("starlette==1.10.0", "httpx==0.28.1", "anyio")),
    "starlette": EnvSpec("starlette", "1.10.0", extra=("httpx==0.28.1",)),
    "async-asgi-testclient": EnvSpec("async-asgi-testclient", "1.4.11", extra=("starlette==1.10.0",)),
    "litestar": EnvSpec("litestar", "2.25.0", extra=("starlette==1.10.0", "httpx==0.28.1")),
    # Before 2.4 the clients add no state at all; 2.3 calls httpx with ``app=``, gone in httpx 0.28.
    "litestar-2.3": EnvSpec("litestar", "2.3.2", extra=("httpx==0.27.2",)),
}
#: harness -> the environment it is checked in.
CASES = {"asgi-lifespan": "asgi-lifespan", "testclient": "starlette", "lifespan_state.testing": "starlette",
         "async-asgi-testclient": "async-asgi-testclient", "litestar": "litestar",
         "litestar-async": "litestar"}
#: What a request after the run gets from a harness with the shim (S13): an empty state that explains.
AFTER = ("a request after the run ended gets a state without the run's objects; reading 'obj' raises "
         "MissingStateError: lifespan state has no key 'obj': the lifespan run of this {} has ended")
#: ... and from Starlette's TestClient and asgi-lifespan alone: the ended run's objects.
LEAK = "a request after the run ended got the ended run's objects (items, obj, run; lifespan run 1)"

Result = Tuple[int, Dict[str, Any], str]


def python(env: str) -> Path:
    return ensure_env(ENVS[env]) / "bin" / "python"


def check(env: str, *args: str, as_json: bool = True) -> subprocess.CompletedProcess[str]:
    interpreter = python(env)
    return subprocess.run(
        [str(interpreter), "-m", "lifespan_state", "check", *args, *(["--json"] if as_json else [])],
        env=activated_env(interpreter.parent), capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def results() -> Dict[str, Result]:
    """``check --harness NAME --shim both`` for every harness, two at a time (two cores)."""
    for env in set(CASES.values()):  # environments one by one: uv shares one cache
        python(env)

    def one(harness: str) -> Result:
        done = check(CASES[harness], "--harness", harness, "--shim", "both")
        try:
            return done.returncode, json.loads(done.stdout), done.stderr
        except ValueError:
            pytest.fail(f"no JSON from check (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {h: pool.submit(one, h) for h in CASES}
        return {h: f.result() for h, f in futures.items()}


def arms(results: Dict[str, Result], harness: str) -> Dict[str, Dict[str, Any]]:
    return {record["shim"]: record for record in results[harness][1]["results"]}


def statuses(record: Dict[str, Any]) -> Dict[str, str]:
    return {c["id"]: c["status"] for c in record["checks"]}


def details(record: Dict[str, Any], status: str) -> Dict[str, str]:
    return {c["id"]: c["detail"] for c in record["checks"] if c["status"] == status}


def test_asgi_lifespan_2_1_0_with_the_shim_passes_every_applicable_check(results: Dict[str, Result]) -> None:
    code, _, stderr = results["asgi-lifespan"]
    shimmed = arms(results, "asgi-lifespan")["on"]
    assert (shimmed["server"], shimmed["server_version"], shimmed["mode"]) == ("asgi-lifespan", "2.1.0",
                                                                                "fix")
    assert shimmed["config"] == {"harness": "LifespanManager + httpx.ASGITransport", "httpx": "0.28.1"}
    assert [c["id"] for c in shimmed["checks"]] == list(CHECKS)
    # What a harness cannot run says why: httpx has no WebSocket client; S12 is for native releases.
    assert details(shimmed, "skip") == {"S6": "not over WebSocket: httpx has no WebSocket client",
                                        "S12": "mode fix: this release needs the shim's wrappers"}
    assert set(details(shimmed, "pass")) == set(CHECKS) - {"S6", "S12"}
    assert details(shimmed, "pass")["S13"].startswith(AFTER.format("LifespanManager"))
    assert shimmed["passed"] and code == 0, stderr


def test_asgi_lifespan_2_1_0_alone_hands_every_request_the_managers_dict(results: Dict[str, Result]) -> None:
    native = arms(results, "asgi-lifespan")["off"]
    fails = details(native, "fail")
    assert set(fails) == {"S3", "S4", "S5", "S8", "S10", "S11", "S13"}, fails
    assert fails["S3"] == "the request's state IS the lifespan dict"
    assert fails["S13"] == LEAK  # through ``manager.app`` after the manager's block
    # The leak itself: the second request sees what the first one wrote.
    assert "request 2 on one connection saw the key request 1 wrote" in fails["S5"]
    assert "request writes reached the lifespan dict" in fails["S10"]
    assert "a request saw keys other requests wrote" in fails["S11"]
    # Each manager run has its own dict natively: S9 (a new manager per run) passes.
    assert {k for k, v in statuses(native).items() if v == "pass"} == {"S1", "S2", "S7", "S9"}
    assert native["mode"] is None and not native["passed"]


def test_testclient_1_10_0_with_the_shim_passes_every_applicable_check(results: Dict[str, Result]) -> None:
    code, _, stderr = results["testclient"]
    shimmed = arms(results, "testclient")["on"]
    assert (shimmed["server"], shimmed["server_version"], shimmed["mode"]) == ("starlette", "1.10.0", "fix")
    assert details(shimmed, "skip") == {"S12": "mode fix: this release needs the shim's wrappers"}
    assert details(shimmed, "pass")["S6"] == (
        "websocket scopes get their own copy: over TestClient WebSocket, after HTTP on it")
    assert details(shimmed, "pass")["S13"].startswith(AFTER.format("TestClient"))
    assert code == 0, stderr


def test_testclient_1_10_0_alone_starts_a_second_run_with_the_first_runs_keys(
    results: Dict[str, Result]
) -> None:
    native = arms(results, "testclient")["off"]
    # The client used again after its `with` block hands the request the ended run's objects.
    assert details(native, "fail") == {"S9": "the second run's lifespan state was not empty at startup",
                                       "S13": LEAK}
    # Within one run its requests get copies: every other check passes.
    assert set(details(native, "pass")) == set(CHECKS) - {"S9", "S12", "S13"}


def test_lifespan_state_testing_passes_on_its_own(results: Dict[str, Result]) -> None:
    code, document, stderr = results["lifespan_state.testing"]
    (record,) = document["results"]  # --shim both: it has no shim arm, it is the semantics itself
    assert (record["server"], record["shim"]) == ("lifespan_state.testing", "off")
    assert details(record, "fail") == {}
    assert details(record, "pass")["S8"] == "every request gets an empty dict (app raises on lifespan)"
    # Its client is closed with the run: nothing reaches the app afterwards.
    assert details(record, "pass")["S13"] == (
        "the harness refuses a request after the run ended (RuntimeError: Cannot send a request, as the "
        "client has been closed.)")
    assert set(details(record, "skip")) == {"S6", "S12"}
    assert code == 0, stderr


def test_the_table_says_what_the_shim_fixes() -> None:
    done = check("starlette", "--harness", "testclient", as_json=False)
    assert "starlette 1.10.0 without the shim: FAILS S9, S13" in done.stdout
    assert "with the shim (mode fix): every applicable check passes — the shim fixes S9, S13" in done.stdout
    assert done.returncode == 0, done.stderr


# -- the harnesses that drop lifespan state ------------------------------------------------------


def test_async_asgi_testclient_1_4_11_alone_has_no_state_and_with_the_shim_passes(
    results: Dict[str, Result]
) -> None:
    code, _, stderr = results["async-asgi-testclient"]
    native, shimmed = (arms(results, "async-asgi-testclient")[shim] for shim in ("off", "on"))
    fails = details(native, "fail")
    assert fails["S1"] == "the lifespan scope has no 'state'"
    assert fails["S2"] == "the http scope has no 'state'"
    # Nothing it could leak after the run: the one check that passes natively.
    assert set(fails) == set(CHECKS) - {"S12", "S13"}, fails
    assert (shimmed["server_version"], shimmed["mode"]) == ("1.4.11", "add")
    assert shimmed["config"] == {"harness": "async-asgi-testclient TestClient"}  # it brings its own client
    assert details(shimmed, "skip") == {"S12": "mode add: this release needs the shim's wrappers"}
    assert details(shimmed, "pass")["S6"] == (
        "websocket scopes get their own copy: over async-asgi-testclient TestClient WebSocket, "
        "after HTTP on it")
    assert details(shimmed, "pass")["S13"].startswith(AFTER.format("TestClient"))
    assert shimmed["passed"] and code == 0, stderr


@pytest.mark.parametrize(("harness", "client"),
                         [("litestar", "TestClient"), ("litestar-async", "AsyncTestClient")])
def test_litestar_2_25_test_clients_alone_hide_the_lifespans_keys_and_with_the_shim_pass(
    results: Dict[str, Result], harness: str, client: str
) -> None:
    code, _, stderr = results[harness]
    native, shimmed = (arms(results, harness)[shim] for shim in ("off", "on"))
    fails = details(native, "fail")
    # A fresh {} for every scope: the lifespan has a dict, no request ever sees what it stored.
    assert fails["S2"] == "http state lacks the lifespan keys ['items', 'obj', 'run']"
    assert {"S2", "S4", "S6", "S7", "S9"} <= set(fails), fails
    assert statuses(native)["S1"] == "pass" and not native["passed"]
    assert (shimmed["server"], shimmed["server_version"], shimmed["mode"]) == ("litestar", "2.25.0", "fix")
    assert shimmed["config"] == {"harness": f"Litestar {client}", "httpx": "0.28.1"}
    assert details(shimmed, "skip") == {"S12": "mode fix: this release needs the shim's wrappers"}
    assert details(shimmed, "pass")["S13"].startswith(AFTER.format(client))
    assert shimmed["passed"] and code == 0, stderr


@pytest.mark.parametrize("harness", ["litestar", "litestar-async"])
def test_litestar_2_3_test_clients_alone_add_no_state_and_with_the_shim_pass(harness: str) -> None:
    done = check("litestar-2.3", "--harness", harness, "--shim", "both")
    native, shimmed = (next(r for r in json.loads(done.stdout)["results"] if r["shim"] == shim)
                       for shim in ("off", "on"))
    # 2.3's AsyncTestClient has no WebSocket client: S6 cannot apply to it.
    no_websocket = {"S6": "not over Litestar AsyncTestClient WebSocket: this release's AsyncTestClient has "
                          "no WebSocket client"} if harness == "litestar-async" else {}
    assert details(native, "fail")["S1"] == "the lifespan scope has no 'state'"
    assert set(details(native, "fail")) == set(CHECKS) - {"S12", "S13", *no_websocket}
    assert (shimmed["server_version"], shimmed["mode"], shimmed["passed"]) == ("2.3.2", "add", True)
    assert details(shimmed, "skip") == {"S12": "mode add: this release needs the shim's wrappers",
                                        **no_websocket}
    assert done.returncode == 0, done.stderr


def test_the_checking_process_never_imports_the_harness() -> None:
    code = ("import sys; from lifespan_state.check._harness_checks import check_harness; "
            "(record,) = check_harness('testclient', 'on', ['S1', 'S9']); "
            "print(record.passed, [m for m in ('starlette', 'httpx', 'asgi_lifespan') if m in sys.modules])")
    interpreter = python("starlette")
    done = subprocess.run([str(interpreter), "-c", code], env=activated_env(interpreter.parent),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.split("\n")[0] == "True []", done.stderr


def test_a_harness_not_installed_is_a_clear_error() -> None:
    done = check("starlette", "--harness", "asgi-lifespan")
    assert done.returncode == 2
    assert "--harness asgi-lifespan needs asgi-lifespan installed" in done.stderr


@pytest.mark.parametrize("other", [["--server", "uvicorn"], ["--command", "{python} -m x {app}"]])
def test_harness_excludes_server_and_command(other: List[str]) -> None:
    argv = [sys.executable, "-m", "lifespan_state", "check", "--harness", "testclient", *other]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "--server, --command and --harness exclude each other" in done.stderr
