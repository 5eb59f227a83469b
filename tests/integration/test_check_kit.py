"""The check kit against real servers, each release in its own virtual environment.

``lifespan-state check --json`` runs inside each environment (so the servers, the probe and the
clients all run under that environment's interpreter); these tests read its JSON document. The
core cases: every applicable check passes with the shim on uvicorn 0.17.6 (add), 0.20.0 (add),
0.21.0 (fix) and 0.54.0 (native, nothing wrapped), and the negative controls fail without it; any
server command (``--command``); the rest of the field (gunicorn's native ASGI worker, granian,
anycorn, daphne), natively, with what each lacks. hypercorn is tests/integration/test_hypercorn.py.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import pytest
from tools.envs import ROOT, EnvSpec, ensure_env
from tools.releases import SERVERS

from lifespan_state.check import (
    CHECK_TABLE,
    CHECKS,
    RECIPES,
    TRANSPORTS,
    CheckResult,
    LaunchContext,
    ResultRecord,
    ServerProcess,
    ServerStartError,
    Session,
    free_port,
    http_get,
)
from lifespan_state.check._checks import main_body
from lifespan_state.check._cli import WIDTH, render_table
from lifespan_state.check._observe import Observations, Plan, Run, make_plan
from lifespan_state.check._probe import _view as probe_view
from lifespan_state.check._spec import PROBE_FIELDS, judge
from script_support import SCRIPTS

_UVICORN = SERVERS["uvicorn"]
DEBIANS, STATELESS, BUGGY, NEWEST = _UVICORN.debian, _UVICORN.last_stateless, _UVICORN.buggy, _UVICORN.newest

#: release -> (mode the shim must pick, extra requirements)
RELEASES: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    DEBIANS: ("add", ("wsproto",)),
    STATELESS: ("add", ("wsproto",)),
    BUGGY: ("fix", ("wsproto",)),
    NEWEST: ("native", ("wsproto",)),
}


def _env(version: str) -> Path:
    return ensure_env(EnvSpec("uvicorn", version, extra=RELEASES[version][1]))


def _check(version: str, *args: str, timeout: float = 240, venv: Optional[Path] = None,
           server: Sequence[str] = ("--server", "uvicorn")) -> Tuple[int, Dict[str, Any], str]:
    venv = venv or _env(version)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "lifespan_state", "check", *server, "--json", *args],
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
    # Only S12 may be skipped with the shim on, and only where the shim has work to do; S13 (after
    # the run) is for harnesses: a server serves nothing after its shutdown.
    skipped = {k for k, v in statuses.items() if v == "skip"}
    assert skipped == (set() if RELEASES[version][0] == "native" else {"S12"}) | {"S13"}


def test_native_release_is_left_unwrapped(
    shim_on_results: Dict[str, Tuple[int, Dict[str, Any], str]]
) -> None:
    (record,) = shim_on_results[NEWEST][1]["results"]
    s12 = next(c for c in record["checks"] if c["id"] == "S12")
    assert s12["status"] == "pass", s12
    assert "nothing wrapped" in s12["detail"]


def test_negative_control_0_20_0_without_shim_fails_s1() -> None:
    code, document, _ = _check(STATELESS, "--shim", "off", "--checks", "S1,S2")
    (record,) = document["results"]
    assert record["shim"] == "off" and record["mode"] is None
    assert _statuses(record) == {"S1": "fail", "S2": "fail"}
    assert "no 'state'" in record["checks"][0]["detail"]
    assert record["passed"] is False
    assert code == 1


def test_negative_control_0_21_0_without_shim_fails_s5() -> None:
    code, document, _ = _check(BUGGY, "--shim", "off", "--checks", "S1,S3,S5")
    (record,) = document["results"]
    # 0.21.0 has lifespan state and copies it; only the per-connection sharing is wrong.
    assert _statuses(record) == {"S1": "pass", "S3": "pass", "S5": "fail"}
    assert "keep-alive" in record["checks"][2]["detail"]
    assert code == 1


def _check_cli(version: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``lifespan-state check --server uvicorn ARGS`` (the table, not --json) in ``version``'s environment."""
    python = str(_env(version) / "bin" / "python")
    argv = [python, "-m", "lifespan_state", "check", "--server", "uvicorn", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def test_table_says_what_fails_natively_and_what_the_shim_fixes() -> None:
    done = _check_cli(BUGGY, "--checks", "S1,S5", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"uvicorn {BUGGY} native" in done.stdout and f"uvicorn {BUGGY} shim (mode fix)" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= WIDTH
    assert "without the shim: FAILS S5" in done.stdout
    assert "the shim fixes S5" in done.stdout
    assert "main run" in done.stderr  # the progress line


def test_unavailable_option_is_a_clear_error() -> None:
    done = _check_cli(STATELESS, "--ws", "websockets-sansio", timeout=120)
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


def _fake_server(mode: str, port: int) -> List[str]:
    return [sys.executable, str(SCRIPTS / "fake_server.py"), mode, str(port)]


def test_runner_reports_a_server_that_exits() -> None:
    port = free_port()
    server = ServerProcess(_fake_server("exit", port), port=port, start_timeout=10)
    with pytest.raises(ServerStartError) as info:
        server.start()
    assert "exited with status 3" in str(info.value)
    assert "bad config" in info.value.output


def test_http_get_helper_and_a_signal_of_choice() -> None:
    port = free_port()
    with ServerProcess(_fake_server("http", port), port=port, start_timeout=10,
                       stop_signal=signal.SIGTERM) as server:
        response = http_get(port, "/hello")
        assert response.status == 200 and response.json() == {"path": "/hello"}
    assert server.returncode == 5  # stopped by the SIGTERM asked for, not SIGINT


def test_runner_stops_a_listening_server() -> None:
    port = free_port()
    with ServerProcess(_fake_server("listen", port), port=port, start_timeout=10) as server:
        assert server.pid is not None
    assert server.returncode == 7
    assert "listening" in server.output



# -- every check can fail: the judges on observations of broken behaviour -------------------------
# (Real servers provide the failing observations for S1, S3-S8, S10, S11 here and in
# test_hypercorn.py; these cover the failure shapes no installed release produces.)

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


def _judge(check: str, shim_on: bool = True, shutdown: Optional[List[Any]] = None,
           s8: Optional[Dict[str, Run]] = None, s9: Optional[Dict[str, Any]] = None,
           after: Optional[Run] = None, **steps: Any) -> CheckResult:
    run = Run()
    run.steps.update({k.replace("__", ":"): v for k, v in steps.items()})
    run.shutdown = shutdown or []
    plan = make_plan(RECIPES["uvicorn"], {"lifespan": "auto"}, False, shim_on, list(CHECKS))
    return judge(CHECK_TABLE[check], Observations(plan, run, s8 or {}, s9, after))


def test_a_correct_observation_passes() -> None:
    steps = dict(first=_view(), s5__h1=[_view(("req-s5",)), _view(), _view()],
                 s3={"written": _view(("req-s3",)), "after": _view()},
                 s4={"appended": _view(acted={"appended": ["v-s4"]}), "after": _view(items=["v-s4"])})
    for check in ("S2", "S3", "S4", "S5"):
        assert _judge(check, **steps).status == "pass", _judge(check, **steps)


def test_identity_and_shallowness_failures_are_caught() -> None:
    deep = _view(obj_id=99, items_id=98)  # what a deepcopy of the state would look like
    assert _judge("S2", first=deep).status == "fail"
    result = _judge("S4", s4={"appended": _view(acted={"appended": ["v-s4"]}), "after": _view(items=[])})
    assert result.status == "fail" and "not seen" in result.detail


def test_sharing_failures_are_caught() -> None:
    shared = _judge("S3", first=_view(is_lifespan_dict=True),
                    s3={"written": _view(("req-s3",)), "after": _view()})
    assert "IS the lifespan dict" in shared.detail
    leaked = _judge("S5", s5__h1=[_view(("req-s5",)), _view(("req-s5",)), _view()])
    assert "saw the key request 1 wrote" in leaked.detail and "keep-alive" in leaked.detail
    reopened = _judge("S5", s5__h1=[_view(), _view(client_port=4001), _view()])
    assert "connections, not one" in reopened.detail


def test_snapshot_and_shutdown_failures_are_caught() -> None:
    late = _judge("S7", first=_view(), s7={"trigger": _view(acted={"late_written": True}), "after": _view()})
    assert "snapshot" in late.detail
    other = dict(LIFESPAN, shutdown={"has_state": True, "same_dict": False, "state_id": 300,
                                     "keys": ["items", "obj", "run"], "obj_id": 10})
    assert "another dict" in _judge("S10", shutdown=[other], first=_view()).detail
    assert "no lifespan.shutdown" in _judge("S10", first=_view()).detail


def test_double_work_on_a_native_release_is_caught() -> None:
    def status(mode: str, patched: Any, apps: int, shim_on: bool = True) -> str:
        acted = {"status": {"uvicorn": {"mode": mode, "patched": patched}}, "state_apps": apps}
        return _judge("S12", shim_on, s12=_view(acted=acted)).status

    assert status("native", [], 0) == "pass"
    assert status("native", ["LifespanOn.__init__"], 1) == "fail"
    assert status("native", [], 2) == "fail"
    assert status("fix", ["LifespanOn.__init__"], 1) == "skip"
    assert status("native", [], 0, shim_on=False) == "skip"


def _run_view(run: int, *keys: str) -> Dict[str, Any]:
    """A view of lifespan run ``run`` (its own objects)."""
    ids = {"obj_id": 10 * run, "items_id": 10 * run + 1}
    return _view(keys, run=run, lifespan=dict(LIFESPAN, run=run, **ids), **ids)


def _passing() -> Dict[str, Dict[str, Any]]:
    """check id -> ``_judge``'s arguments: an observation of a correct server."""
    empty = dict(_view(), keys=[])
    ws = "req-s6-ws"
    shutdown = {"has_state": True, "same_dict": True, "state_id": 100, "keys": ["items", "obj", "run"],
                "obj_id": 10}
    status = {"status": {"uvicorn": {"mode": "native", "patched": []}}, "state_apps": 0}
    return {
        "S1": dict(first=_view()),
        "S2": dict(first=_view()),
        "S3": dict(first=_view(), s3={"written": _view(("req-s3",)), "after": _view()}),
        "S4": dict(s4={"appended": _view(acted={"appended": ["v-s4"]}), "after": _view(items=["v-s4"])}),
        "S5": dict(s5__h1=[_view(("req-s5",)), _view(), _view()]),
        "S6": dict(s6__ws={"key": ws, "first": _view(), "written": _view((ws,)), "after": _view(),
                           "fresh_http": _view()}),
        "S7": dict(first=_view(), s7={"trigger": _view(acted={"late_written": True}),
                                      "after": _view(("late",))}),
        "S8": dict(s8={"lifespan off": Run(steps={"s8": [empty, _view(("req-s8",)), empty]})}),
        "S9": dict(s9={"sequential": [_run_view(1, "req-s9-a"), _run_view(2)],
                       "concurrent": [_run_view(3, "req-s9-x"), _run_view(4, "req-s9-y")], "error": ""}),
        "S10": dict(first=_view(), shutdown=[dict(LIFESPAN, shutdown=shutdown)]),
        "S11": dict(s11__h1=[dict(_view(("req-h1-0",)), _own="req-h1-0")]),
        "S12": dict(s12=_view(acted=status)),
        "S13": dict(after=Run(steps={"s13": dict(empty, acted={"read": {"obj": "KeyError: 'obj'"}})})),
    }


class _Reading(Dict[str, Any]):
    """A probe view that notes the fields read from it."""

    def __init__(self, view: Dict[str, Any], read: Set[str]) -> None:
        super().__init__(view)
        self.read = read

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def _reading(observed: Any, read: Set[str]) -> Any:
    """``observed`` with every probe view in it (a dict with ``acted``) noting what is read."""
    if isinstance(observed, Run):
        return dataclasses.replace(observed, steps=_reading(observed.steps, read))
    if isinstance(observed, dict):
        inner = {k: _reading(v, read) for k, v in observed.items()}
        return _Reading(inner, read) if "acted" in observed else inner
    if isinstance(observed, list):
        return [_reading(v, read) for v in observed]
    return observed


def test_each_check_declares_the_probe_fields_its_judge_reads() -> None:
    answered = set(probe_view({"type": "http"}, {}, {}))
    assert answered >= PROBE_FIELDS, PROBE_FIELDS - answered
    observations = _passing()
    assert list(observations) == list(CHECKS)
    for check_id, observed in observations.items():
        read: Set[str] = set()
        result = _judge(check_id, **_reading(observed, read))
        assert result.status == "pass", result
        undeclared = (read & answered) - CHECK_TABLE[check_id].fields
        assert not undeclared, (check_id, sorted(undeclared))


def _steps(plan: Any) -> List[str]:
    """The steps of ``plan``'s main run, in order (nothing is requested)."""
    names: List[str] = []
    run = Run()
    run.step = lambda name, action: names.append(name)  # type: ignore[method-assign]
    main_body(plan)(run, Session(LaunchContext("127.0.0.1", 0, ""), 1.0))
    return names


def test_the_main_run_makes_the_writes_first_and_what_can_end_a_connection_last() -> None:
    transports = [TRANSPORTS[name] for name in ("h1", "ws", "h2-tls", "ws-h2")]
    plan = Plan(RECIPES["hypercorn"], {}, True, True, list(CHECKS), transports, {})
    assert _steps(plan) == ["first", "s5:h1", "s5:h2-tls", "s3", "s4", "s6:ws", "s7", "s7:h2-tls",
                            "s11:h1", "s11:h2-tls", "s6:ws-h2", "s12"]
    # The writes S10 and S11 look for are in every run; the status only with the shim.
    natively = dataclasses.replace(plan, shim_on=False, selected=["S1", "S5"])
    assert _steps(natively) == ["first", "s5:h1", "s5:h2-tls", "s3", "s4"]
    assert "s7" in _steps(dataclasses.replace(natively, selected=["S10"]))


def test_a_missing_client_library_is_said_not_hidden() -> None:
    plan = make_plan(RECIPES["hypercorn"], {}, True, False, list(CHECKS))
    names = {t.name for t in plan.transports} | set(plan.left_out)
    assert {"h1", "ws"} <= names
    assert all("pip install" in why or "TLS" in why for why in plan.left_out.values())


def test_table_fits_in_100_columns_and_explains_its_labels() -> None:
    records = [ResultRecord(s, "1.0", {"http": "h11", "ws": "wsproto", "lifespan": "auto"}, shim, None,
                            [CheckResult(c, "fail" if c == "S10" else "skip", f"why {c} " * 20)
                             for c in CHECKS])
               for s in ("uvicorn", "hypercorn", "gunicorn", "granian", "anycorn", "daphne")
               for shim in ("off", "on")]
    table = render_table(records)
    assert max(len(line) for line in table.splitlines()) <= WIDTH
    assert "L = daphne 1.0 shim" in table and "n/a (does not apply):" in table


# -- any server: --command, and the rest of the field --------------------------------------------

def test_any_command_uvicorn_0_17_6_fails_s1_natively_and_passes_with_the_shim() -> None:
    command = "{python} -m uvicorn {app} --host {host} --port {port}"
    code, document, stderr = _check(DEBIANS, "--shim", "both", server=("--command", command))
    native, shimmed = document["results"]
    assert native["server"] == shimmed["server"] == "uvicorn"
    assert native["config"] == {"command": command, "stop_signal": "SIGTERM", "lifespan_off_command": "none"}
    assert _statuses(native)["S1"] == "fail"
    assert not [c for c in shimmed["checks"] if c["status"] == "fail"], shimmed["checks"]
    # The command runs the built-in server: what is true of it comes along (WebSocket, S9); S8
    # runs the command itself, with an app raising on the lifespan scope.
    assert "app raises on lifespan" in next(c["detail"] for c in shimmed["checks"] if c["id"] == "S8")
    assert {k for k, v in _statuses(shimmed).items() if v == "pass"} == set(CHECKS) - {"S12", "S13"}
    assert code == 0, stderr


#: server -> (release, requirements): the newest release of each field server (docs/field.md),
#: plus the clients.
FIELD = {
    "gunicorn-26.2.0": ("gunicorn", "26.2.0"),
    "gunicorn-27.0.1": ("gunicorn", "27.0.1"),
    "granian-2.8.9": ("granian", "2.8.9"),
    "daphne-4.2.3": ("daphne", "4.2.3"),
}
CLIENTS = ("h2", "wsproto", "trustme")


def _field_env(key: str) -> Path:
    server, version = FIELD[key]
    return ensure_env(EnvSpec(server, version, extra=CLIENTS))


@pytest.fixture(scope="module")
def field_results() -> Dict[str, Dict[str, Any]]:
    for key in FIELD:
        _field_env(key)

    def one(key: str) -> Dict[str, Any]:
        server = FIELD[key][0]
        _, document, _ = _check(key, "--shim", "off", venv=_field_env(key), server=("--server", server))
        (record,) = document["results"]
        return record

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(one, key) for key in FIELD}
        return {key: f.result() for key, f in futures.items()}


def _fails(record: Dict[str, Any]) -> Dict[str, str]:
    return {c["id"]: c["detail"] for c in record["checks"] if c["status"] == "fail"}


def test_gunicorn_26_2_0_hands_every_request_the_lifespan_dict(field_results: Dict[str, Any]) -> None:
    record = field_results["gunicorn-26.2.0"]
    assert record["server_version"] == "26.2.0"
    fails = _fails(record)
    assert {"S3", "S5", "S6", "S11"} <= set(fails), fails
    assert "IS the lifespan dict" in fails["S3"]
    assert "request writes reached the lifespan dict" in fails["S10"]


def test_gunicorn_27_0_1_passes(field_results: Dict[str, Any]) -> None:
    record = field_results["gunicorn-27.0.1"]
    assert _fails(record) == {}
    statuses = _statuses(record)
    assert statuses["S9"] == statuses["S12"] == statuses["S13"] == "skip"
    assert {k for k, v in statuses.items() if v == "pass"} == set(CHECKS) - {"S9", "S12", "S13"}


def test_granian_2_8_9_empties_the_state_before_shutdown(field_results: Dict[str, Any]) -> None:
    fails = _fails(field_results["granian-2.8.9"])
    assert list(fails) == ["S10"]
    assert "missing at shutdown" in fails["S10"]


def test_daphne_runs_and_says_it_has_no_lifespan(field_results: Dict[str, Any]) -> None:
    record = field_results["daphne-4.2.3"]
    fails = _fails(record)
    assert "no ASGI lifespan protocol" in fails["S1"]
    assert "no 'state'" in fails["S3"]
    s9 = next(c for c in record["checks"] if c["id"] == "S9")
    assert s9["status"] == "skip" and "no in-process driver" in s9["detail"]


@pytest.mark.slow
def test_gunicorn_over_tls_speaks_http2() -> None:
    _, document, _ = _check("gunicorn-27.0.1", "--shim", "off", "--tls", "--checks", "S5,S11",
                            venv=_field_env("gunicorn-27.0.1"), server=("--server", "gunicorn"))
    (record,) = document["results"]
    assert _fails(record) == {}
    assert all("HTTP/2 over TLS" in c["detail"] for c in record["checks"])


def test_a_server_command_that_exits_is_reported() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lifespan_state", "check", "--json", "--shim", "off", "--checks", "S1",
         "--command", "{python} -c 'raise SystemExit(4)' {app} {host} {port}"],
        capture_output=True, text=True, timeout=120, check=False)
    (record,) = json.loads(done.stdout)["results"]
    assert record["checks"][0]["status"] == "fail"
    assert record["checks"][0]["detail"].startswith("server exited with status 4")
    assert done.returncode == 1


@pytest.mark.slow
def test_field_page_matches_a_live_run() -> None:
    """docs/field.md's verdicts are what the servers do today (a live run of every column).

    Slow tier: third-party servers have races of their own that a loaded machine widens (see
    tools/field.py). The default suite checks the page against its stored results instead
    (tests/matrix/test_field_page.py).
    """
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "field.py"), "--check"],
                          capture_output=True, text=True, timeout=1200, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "docs/field.md is current" in done.stdout
