"""The kit's pure logic that keeps it from crying wolf: requests judged per worker process, a
``--command`` recipe that is only its command and flags, renamed distributions, TLS in a sweep.
No server runs here: the judges get observations, the recipes are made and expanded."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import signal
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

import pytest

from lifespan_state._integrations._descriptor import Launch
from lifespan_state.check import _installed, _recipes
from lifespan_state.check._checks import arms, run_checks
from lifespan_state.check._cli import render_table
from lifespan_state.check._observe import CHECK_EXTRA, Observations, Run, make_plan
from lifespan_state.check._recipes import RECIPES, ConfigError, LaunchContext, Recipe, custom_recipe
from lifespan_state.check._spec import CHECK_TABLE, CHECKS, REACH, judge, reach
from lifespan_state.check._transports import TRANSPORTS

LIFESPAN = {"run": 1, "pid": 5, "token": "t5", "has_state": True, "state_type": "dict",
            "empty_at_startup": True, "keys_at_startup": [], "state_id": 100, "obj_id": 10, "items_id": 11}


def view(pid: int = 5, keys: Tuple[str, ...] = (), **changes: Any) -> Dict[str, Any]:
    """The probe's view of a request served by worker ``pid`` (each worker: its own lifespan)."""
    lifespan = dict(LIFESPAN, pid=pid, token=f"t{pid}", obj_id=10 * pid, items_id=10 * pid + 1)
    data: Dict[str, Any] = {
        "type": "http", "pid": pid, "token": f"t{pid}", "client_port": 4000, "has_state": True,
        "state_type": "dict", "state_id": 200, "keys": sorted({"items", "obj", "run", *keys}), "run": 1,
        "obj_id": 10 * pid, "items_id": 10 * pid + 1, "items": [], "is_lifespan_dict": False,
        "lifespan": lifespan, "lifespan_keys_now": ["items", "obj", "run"],
        "lifespan_obj_id_now": 10 * pid, "lifespan_runs": [lifespan], "acted": {},
    }
    data.update(changes)
    return data


def judged(check: str, recipe: Optional[Recipe] = None, s8: Optional[Dict[str, Run]] = None,
           config: Optional[Dict[str, str]] = None, **steps: Any) -> Any:
    run = Run(steps={k.replace("__", ":"): v for k, v in steps.items()})
    plan = make_plan(recipe or RECIPES["uvicorn"], config or {"lifespan": "auto"}, False, True, list(CHECKS))
    if recipe is not None:  # every transport of the recipe, whether its client is installed or not
        used = [TRANSPORTS[n] for n in TRANSPORTS if n in recipe.launch.transports]
        plan = dataclasses.replace(plan, transports=used, left_out={})
    return judge(CHECK_TABLE[check], Observations(plan, run, s8 or {}, None))


class Workers:
    """A session whose fresh connections reach the workers ``pids`` in turn."""

    def __init__(self, *pids: int) -> None:
        self.pids = list(pids)
        self.asked: List[str] = []

    def get(self, target: str) -> Dict[str, Any]:
        self.asked.append(target)
        pid = self.pids[(len(self.asked) - 1) % len(self.pids)]
        return view(pid)


# -- one process per comparison ---------------------------------------------------------------------

def test_reach_tries_fresh_connections_until_the_origins_process_answers() -> None:
    session = Workers(7, 7, 5)
    found = reach(session, view(5))  # type: ignore[arg-type]
    assert found["pid"] == 5 and len(session.asked) == 3
    lost = reach(Workers(7), view(5))  # type: ignore[arg-type]
    assert lost == {"unreached": REACH, "pids": [7]}


def test_reach_tells_a_restarted_worker_with_the_same_pid_apart() -> None:
    session = Workers(5)
    assert "unreached" in reach(session, view(5, token="an earlier import"))  # type: ignore[arg-type]


def test_a_later_request_in_another_process_is_not_compared_but_said() -> None:
    other = {"unreached": REACH, "pids": [7]}
    s4 = judged("S4", s4={"appended": view(acted={"appended": ["v-s4"]}), "after": other})
    assert s4.status == "skip" and "reached the worker process" in s4.detail and "pid 5" in s4.detail
    s3 = judged("S3", first=view(), s3={"written": view(keys=("req-s3",)), "after": other})
    assert s3.status == "skip"
    s7 = judged("S7", first=view(), s7={"trigger": view(acted={"late_written": True}), "after": other})
    assert s7.status == "skip"


def test_a_later_request_in_another_run_of_the_same_process_is_not_compared_but_said() -> None:
    # A lifespan per invocation (mangum): the process is the same, the run is not.
    same = {"unreached": REACH, "pids": [5]}
    s4 = judged("S4", s4={"appended": view(acted={"appended": ["v-s4"]}), "after": same})
    assert s4.status == "skip" and "another run of the same process (pid 5" in s4.detail, s4.detail
    assert "worker process" not in s4.detail


def test_what_one_process_shows_is_still_judged_when_no_later_request_reaches_it() -> None:
    other = {"unreached": REACH, "pids": [7]}
    leaked = judged("S3", first=view(), s3={"written": view(keys=("req-s3",), lifespan_keys_now=[
        "items", "obj", "req-s3", "run"]), "after": other})
    assert leaked.status == "fail" and "appeared in the lifespan dict" in leaked.detail
    unappended = judged("S4", s4={"appended": view(), "after": other})
    assert unappended.status == "fail" and "could not append" in unappended.detail


def test_the_same_process_passes_and_fails_as_before() -> None:
    passing = judged("S4", s4={"appended": view(acted={"appended": ["v-s4"]}), "after": view(items=["v-s4"])})
    assert passing.status == "pass"
    failing = judged("S4", s4={"appended": view(acted={"appended": ["v-s4"]}), "after": view(items=[])})
    assert failing.status == "fail" and "not seen later" in failing.detail


def test_s7_over_http2_compares_only_the_connection_that_reached_the_triggered_process() -> None:
    hypercorn = RECIPES["hypercorn"]
    trigger = view(acted={"late_written": True})
    steps = dict(first=view(), s7={"trigger": trigger, "after": view(keys=("late",))})
    elsewhere = judged("S7", hypercorn, s7__h2c=[view(7)], **steps)
    assert elsewhere.status == "pass", elsewhere
    assert "not over HTTP/2 cleartext" in elsewhere.detail and "pid 5" in elsewhere.detail
    there = judged("S7", hypercorn, s7__h2c=[view(7), view(5, keys=("late",))], **steps)
    assert there.status == "pass" and "not over" not in there.detail
    snapshot = judged("S7", hypercorn, s7__h2c=[view(7), view(5)], **steps)
    assert snapshot.status == "fail" and "snapshot" in snapshot.detail


def test_s6_compares_later_requests_of_the_websockets_process_only() -> None:
    key = "req-s6-ws"
    base = {"key": key, "first": view(type="websocket"), "written": view(keys=(key,), type="websocket")}
    seen_elsewhere = dict(base, after=view(7, keys=(key,)), fresh_http=view())
    assert judged("S6", s6__ws=seen_elsewhere).status == "pass"
    seen_there = dict(base, after=view(keys=(key,)), fresh_http=view())
    assert judged("S6", s6__ws=seen_there).status == "fail"
    unreached = dict(base, after=view(7), fresh_http={"unreached": REACH, "pids": [7]})
    result = judged("S6", s6__ws=unreached)
    assert result.status == "skip" and "served the websocket" in result.detail


# -- S8 and a server that cannot start without lifespan ---------------------------------------------

def test_s8_is_na_when_the_server_does_not_start_without_lifespan() -> None:
    failed = Run(start_error="server exited with status 3: lifespan failed")
    result = judged("S8", s8={"app raises on lifespan": failed})
    assert result.status == "skip"
    assert "cannot start the server without lifespan" in result.detail and "status 3" in result.detail
    empty = dict(view(), keys=[])
    ran = Run(steps={"s8": [empty, view(keys=("req-s8",)), empty]})
    both = judged("S8", s8={"lifespan off": ran, "app raises on lifespan": failed})
    assert both.status == "pass" and "did not start" in both.detail


def test_s6_without_a_websocket_library_names_the_extra() -> None:
    result = judged("S6", config={"lifespan": "auto", "ws": "none"})
    assert result.status == "skip" and CHECK_EXTRA in result.detail


# -- --command owns its command -----------------------------------------------------------------------

UVICORN_WORKER = "{python} -m gunicorn -k uvicorn_worker.UvicornWorker -b {host}:{port} {app}"


@pytest.mark.parametrize("name", [None, "uvicorn-worker", "uvicorn", "gunicorn"])
def test_a_command_recipe_takes_nothing_of_a_named_servers_command(name: Optional[str]) -> None:
    recipe = custom_recipe(UVICORN_WORKER, name)
    assert recipe.stop_signal == signal.SIGTERM
    launch = recipe.launch
    assert launch.options == {} and launch.lifespan_off is None and launch.lifespan_raise == {}
    ctx = LaunchContext("127.0.0.1", 8000, "/w")
    argv = recipe.argv({"command": UVICORN_WORKER}, ctx, frozenset({"h1"}), False)
    assert argv[1:] == ["-m", "gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-b", "127.0.0.1:8000",
                        "lifespan_state.check._probe:app"]
    shown = recipe.described(_recipes.Capabilities("1.0", {}, {}))
    assert shown == {"stop_signal": "SIGTERM", "lifespan_off_command": "none"}


def test_the_run_without_lifespan_and_the_stop_signal_are_the_flags() -> None:
    off = "{python} -m myserver {app} --port {port} --no-lifespan"
    recipe = custom_recipe("{python} -m myserver {app} --port {port}", stop="INT", lifespan_off=off)
    assert recipe.stop_signal == signal.SIGINT and recipe.launch.lifespan_off == {"command": off}
    ctx = LaunchContext("127.0.0.1", 9, "/w")
    argv = recipe.argv({"command": "x", **recipe.launch.lifespan_off}, ctx, frozenset(), False)
    assert argv[-1] == "--no-lifespan"
    assert recipe.described(_recipes.Capabilities(None, {}, {}))["lifespan_off_command"] == off
    assert custom_recipe("{python} -m a {app}", stop="15").stop_signal == signal.SIGTERM
    with pytest.raises(ConfigError, match="unknown signal"):
        custom_recipe("{python} -m a {app}", stop="SIGNOPE")


def test_a_named_server_lends_its_driver_and_status_key() -> None:
    assert custom_recipe(UVICORN_WORKER, "uvicorn").integration == "uvicorn"
    assert custom_recipe(UVICORN_WORKER, "uvicorn").driver
    assert not custom_recipe(UVICORN_WORKER, "uvicorn-worker").driver
    # Its program (gunicorn) lends what it can, but gunicorn's shim does not act on its worker's
    # code: the shim arm is left out, as for any server the shim has no module for.
    worker = custom_recipe(UVICORN_WORKER, "uvicorn-worker")
    assert worker.shimmed_by == "uvicorn-worker" and arms("both", worker.shimmed_by) == ["off"]


def test_a_fork_installing_a_servers_package_is_that_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_recipes, "packages_of", lambda name: ["hypercorn"] if name == "nonecorn" else [])
    recipe = custom_recipe("{python} -m hypercorn --bind {host}:{port} {app}", "nonecorn")
    assert recipe.name == "nonecorn" and recipe.integration == "hypercorn" and recipe.driver
    # hypercorn's shim acts on the fork's code, so `--shim both` runs it there too.
    assert recipe.shimmed_by == "hypercorn" and arms("both", recipe.shimmed_by) == ["off", "on"]
    assert recipe.launch.transports == RECIPES["hypercorn"].launch.transports
    secure = custom_recipe("{python} -m hypercorn --certfile {certfile} --keyfile {keyfile} {app}")
    # HTTP/3 needs hypercorn's QUIC binding, an option the command has or not: only by --transport.
    assert secure.launch.tls_transports == RECIPES["hypercorn"].launch.tls_transports - {"h3"}


class _Dist:
    def __init__(self, name: str, files: List[str], top_level: Optional[str] = None) -> None:
        self.metadata = {"Name": name}
        self.version = "0.18.0"
        self.files = [_Path(f) for f in files]
        self.top_level = top_level

    def read_text(self, filename: str) -> Optional[str]:
        return self.top_level if filename == "top_level.txt" else None


class _Path:
    def __init__(self, text: str) -> None:
        self.parts = tuple(text.split("/"))
        self.suffix = "." + text.rsplit(".", 1)[-1] if "." in text.rsplit("/", 1)[-1] else ""


def test_the_version_is_that_of_whatever_installed_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    dists = [_Dist("other", ["other/__init__.py"], "other\n"),
             _Dist("nonecorn", ["hypercorn/__init__.py", "hypercorn/config.py",
                                "nonecorn-0.18.0.dist-info/RECORD", "nonecorn-0.18.0.dist-info/x.py"])]
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: dists)
    assert _installed.providing("not-a-distribution-here", "hypercorn") == ("nonecorn", "0.18.0")
    assert _installed.providing("not-a-distribution-here", "nothing") is None
    assert _installed.providing("wrapt", "wrapt")[0] == "wrapt"  # type: ignore[index]
    assert _installed.packages_of("not-a-distribution-here") == []


def test_a_renamed_distribution_is_said_in_the_report() -> None:
    shown = RECIPES["hypercorn"].described(_recipes.Capabilities("0.18.0", {}, {}, distribution="nonecorn"))
    assert shown == {"distribution": "nonecorn"}
    own = _recipes.Capabilities("0.18.0", {}, {}, distribution="hypercorn")
    assert RECIPES["hypercorn"].described(own) == {}


# -- TLS on a server without it, in a sweep -------------------------------------------------------

def test_a_sweep_gives_a_server_without_tls_na_checks_and_no_run() -> None:
    recipe = Recipe("wrapt", Launch("{python} -m wrapt {app}"), package="wrapt")  # installed: has a version
    with pytest.raises(ConfigError, match="no TLS"):
        run_checks(recipe, tls=True, shim="off")
    records = run_checks(recipe, tls=True, shim="both", sweep=True, checks=["S1", "S6"])
    assert [r.shim for r in records] == ["off"]  # the shim has no module for it
    assert [(c.id, c.status) for c in records[0].checks] == [("S1", "skip"), ("S6", "skip")]
    assert "has no TLS in the check kit's recipe" in records[0].checks[0].detail
    # Each arm asked for is one record under its own name, as in a run.
    for shim, named in (("off", ["off"]), ("all", ["off", "middleware"]), ("middleware", ["middleware"])):
        assert [r.shim for r in run_checks(recipe, tls=True, shim=shim, sweep=True, checks=["S1"])] == named


def test_the_table_says_the_shim_has_no_module_only_when_its_arm_was_asked_for() -> None:
    recipe = Recipe("wrapt", Launch("{python} -m wrapt {app}"), package="wrapt")
    records = run_checks(recipe, tls=True, shim="both", sweep=True, checks=["S1"])
    line = "with the shim: n/a (the shim has no module for wrapt)"
    assert line in render_table(records)
    # --shim off (or middleware): the run never meant to use the shim, so the table is silent on it.
    assert "with the shim" not in render_table(records, shim_asked=False)


def _check(*args: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    return subprocess.run([sys.executable, "-m", "lifespan_state", "check", *args],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("args", "says"), [
    (("--server", "uvicorn", "--stop-signal", "TERM"), "go with --command"),
    (("--lifespan-off-command", "x {app}"), "go with --command"),
    (("--command", "{python} -m x {app}", "--stop-signal", "NOPE"), "unknown signal 'NOPE'"),
])
def test_command_flags_are_checked_in_one_line(args: Tuple[str, ...], says: str) -> None:
    done = _check(*args)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert says in line


def test_every_built_in_recipe_stops_with_a_signal_this_platform_has() -> None:
    # A descriptor names its stop signal as text; the kit turns it into the signal when it stops.
    for recipe in RECIPES.values():
        assert recipe.stop_signal in set(signal.Signals), recipe.name
