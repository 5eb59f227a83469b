"""The kit never cries wolf: real servers the way a new user runs them, each release in its own
environment (``lifespan-state check --json`` inside it).

- Several worker processes (uvicorn 0.17.6 ``--workers 2`` through ``--command``, hypercorn
  0.16.0 ``--option workers=2``): with the shim every check passes, requests being compared only
  where one process served them; natively they fail (the negative control).
- ``--command`` owns its command: gunicorn's UvicornWorker passes natively whatever ``--name``
  says; the stop signal and the run without lifespan are the flags' (a stop that skips
  ``lifespan.shutdown`` fails S10; a server that cannot start without lifespan has S8 n/a).
- nonecorn (hypercorn's code under another distribution name) is run as hypercorn, with its version.
- ``--tls`` in a sweep: a server whose recipe has no TLS gets its checks n/a, with no run.

Multi-worker runs are judged per process: a check whose later request cannot reach the process
of the earlier one is n/a, saying so, never a fail (so no race of the kernel's accept fails these
tests); what is structural (S5 on one connection) must pass.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Sequence, Tuple

import pytest
from tools.envs import EnvSpec, ensure_env

from lifespan_state.check import CHECKS

Json = Dict[str, Any]

ENVS = {
    "uvicorn": EnvSpec("uvicorn", "0.17.6", extra=("wsproto",)),
    "hypercorn": EnvSpec("hypercorn", "0.16.0", extra=("h2", "wsproto", "trustme")),
    "uvicorn-worker": EnvSpec("gunicorn", "27.0.1", extra=("uvicorn-worker", "wsproto", "h2", "trustme")),
    "nonecorn": EnvSpec("nonecorn", "0.18.0", extra=("h2", "wsproto", "trustme")),
    "daphne": EnvSpec("daphne", "4.2.3", extra=("h2", "wsproto", "trustme")),
}
UVICORN_WORKERS = "{python} -m uvicorn {app} --host {host} --port {port} --workers 2"
UVICORN_WORKER = "{python} -m gunicorn -k uvicorn_worker.UvicornWorker -b {host}:{port} {app}"
HYPERCORN = "{python} -m hypercorn --bind {host}:{port} {app}"


def kit(env: str, *args: str, timeout: float = 400) -> Tuple[int, Json, str]:
    """``lifespan-state check --json ARGS`` in ``env``'s environment: (exit status, document, stderr)."""
    python = ensure_env(ENVS[env]) / "bin" / "python"
    done = subprocess.run([str(python), "-m", "lifespan_state", "check", "--json", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    try:
        document: Json = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON from check {args} (exit {done.returncode}):\n{done.stdout}\n"
                    f"{done.stderr[-3000:]}")
    return done.returncode, document, done.stderr


def statuses(record: Json) -> Dict[str, str]:
    return {c["id"]: c["status"] for c in record["checks"]}


def details(record: Json) -> Dict[str, str]:
    return {c["id"]: c["detail"] for c in record["checks"]}


def failures(record: Json) -> Dict[str, str]:
    return {c["id"]: c["detail"] for c in record["checks"] if c["status"] == "fail"}


RUNS: Dict[str, Tuple[str, Sequence[str]]] = {
    "uvicorn-workers": ("uvicorn", ("--shim", "both", "--command", UVICORN_WORKERS)),
    "hypercorn-workers": ("hypercorn", ("--shim", "both", "--server", "hypercorn", "--option", "workers=2")),
    "worker-no-name": ("uvicorn-worker", ("--shim", "off", "--command", UVICORN_WORKER)),
    "worker-uvicorn-worker": ("uvicorn-worker", ("--shim", "off", "--command", UVICORN_WORKER,
                                                 "--name", "uvicorn-worker")),
    "worker-uvicorn": ("uvicorn-worker", ("--shim", "off", "--command", UVICORN_WORKER, "--name", "uvicorn")),
    "nonecorn-server": ("nonecorn", ("--shim", "both", "--server", "hypercorn")),
    "nonecorn-name": ("nonecorn", ("--shim", "on", "--command", HYPERCORN, "--name", "nonecorn",
                                   "--checks", "S1,S5,S9,S12")),
}


@pytest.fixture(scope="module")
def runs() -> Dict[str, Tuple[int, Json, str]]:
    for env in dict.fromkeys(env for env, _ in RUNS.values()):  # one by one: uv shares one cache
        ensure_env(ENVS[env])
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores
        futures = {key: pool.submit(kit, env, *args) for key, (env, args) in RUNS.items()}
        return {key: future.result() for key, future in futures.items()}


# -- several worker processes ---------------------------------------------------------------------

#: Judged by comparing requests: with several processes, per process.
COMPARED = ("S3", "S4", "S7")


@pytest.mark.parametrize("key", ["uvicorn-workers", "hypercorn-workers"])
def test_two_workers_pass_with_the_shim_and_fail_natively(
    runs: Dict[str, Tuple[int, Json, str]], key: str
) -> None:
    code, document, stderr = runs[key]
    native, shimmed = document["results"]
    assert native["shim"] == "off" and shimmed["shim"] == "on"
    failed = failures(shimmed)
    if key == "hypercorn-workers" and "S10" in failed:
        # hypercorn 0.16.0's parent terminates (SIGTERM) the other workers once one has exited,
        # which can cut a worker's lifespan.shutdown short: the server's race, not the shim's.
        assert "saw no lifespan.shutdown" in failed.pop("S10")
    else:
        assert code == 0
        assert statuses(shimmed)["S10"] == "pass"
    assert failed == {}, stderr[-3000:]
    seen = statuses(shimmed)
    assert list(seen) == list(CHECKS)
    assert seen["S5"] == "pass" and seen["S1"] == "pass"
    for check in COMPARED:  # judged where one process served both requests, never a fail
        assert seen[check] == "pass" or "reached the worker process" in details(shimmed)[check], check
    # The negative control: natively these releases have no lifespan state.
    assert {"S1", "S3", "S5"} <= set(failures(native)), native["checks"]


def test_the_command_of_a_multi_worker_run_is_reported_with_its_stop_signal(
    runs: Dict[str, Tuple[int, Json, str]]
) -> None:
    _, document, _ = runs["uvicorn-workers"]
    assert document["results"][1]["config"] == {
        "command": UVICORN_WORKERS, "stop_signal": "SIGTERM", "lifespan_off_command": "none"}


# -- --command owns its command ------------------------------------------------------------------

@pytest.mark.parametrize(("key", "server"), [("worker-no-name", "gunicorn"),
                                             ("worker-uvicorn-worker", "uvicorn-worker"),
                                             ("worker-uvicorn", "uvicorn")])
def test_uvicorn_worker_passes_natively_whatever_its_name(
    runs: Dict[str, Tuple[int, Json, str]], key: str, server: str
) -> None:
    code, document, stderr = runs[key]
    (record,) = document["results"]
    assert record["server"] == server and record["server_version"]
    assert failures(record) == {}, stderr[-3000:]
    assert code == 0
    seen = statuses(record)
    # S8 ran the command itself with an app raising on the lifespan scope (no option was added).
    assert seen["S8"] == "pass" and "app raises on lifespan" in details(record)["S8"]
    assert seen["S10"] == "pass"
    # The in-process driver is the named server's (uvicorn's API), none for the others.
    assert seen["S9"] == ("pass" if server == "uvicorn" else "skip")


def test_a_stop_that_skips_lifespan_shutdown_fails_s10() -> None:
    """The negative control of --stop-signal: the kit stops the server with the flag's signal."""
    code, document, _ = kit("uvicorn-worker", "--shim", "off", "--command", UVICORN_WORKER,
                            "--stop-signal", "SIGKILL", "--checks", "S1,S10")
    (record,) = document["results"]
    assert record["config"]["stop_signal"] == "SIGKILL"
    assert statuses(record) == {"S1": "pass", "S10": "fail"}
    assert "no lifespan.shutdown" in details(record)["S10"]
    assert code == 1


def test_the_run_without_lifespan_is_the_flags_command_and_a_server_that_needs_one_is_na() -> None:
    off = "{python} -m uvicorn {app} --host {host} --port {port} --lifespan off"
    _, document, _ = kit("uvicorn-worker", "--shim", "off", "--checks", "S8", "--command",
                         "{python} -m uvicorn {app} --host {host} --port {port} --lifespan on",
                         "--lifespan-off-command", off)
    (record,) = document["results"]
    assert record["config"]["lifespan_off_command"] == off
    s8 = record["checks"][0]
    # --lifespan on exits when the app raises on the lifespan scope: that run cannot be made.
    assert s8["status"] == "pass" and "lifespan off" in s8["detail"] and "did not start" in s8["detail"]
    _, alone, _ = kit("uvicorn-worker", "--shim", "off", "--checks", "S8", "--command",
                      "{python} -m uvicorn {app} --host {host} --port {port} --lifespan on")
    (record,) = alone["results"]
    assert statuses(record) == {"S8": "skip"}
    assert "cannot start the server without lifespan" in details(record)["S8"]


# -- renamed distributions ---------------------------------------------------------------------------

def test_nonecorn_runs_as_hypercorn_with_its_version(runs: Dict[str, Tuple[int, Json, str]]) -> None:
    code, document, stderr = runs["nonecorn-server"]
    native, shimmed = document["results"]
    for record in (native, shimmed):
        assert record["server"] == "hypercorn" and record["server_version"] == "0.18.0"
        assert record["config"]["distribution"] == "nonecorn"
    assert failures(shimmed) == {}, stderr[-3000:]
    assert shimmed["mode"] == "fix" and statuses(shimmed)["S9"] == "pass"
    assert code == 0


def test_nonecorn_by_name_finds_hypercorns_driver_and_status(runs: Dict[str, Tuple[int, Json, str]]) -> None:
    _, document, stderr = runs["nonecorn-name"]
    (record,) = document["results"]
    assert record["server"] == "nonecorn" and record["server_version"] == "0.18.0"
    assert record["mode"] == "fix"  # the shim's status of the hypercorn integration
    assert statuses(record) == {"S1": "pass", "S5": "pass", "S9": "pass", "S12": "skip"}, stderr[-3000:]


def test_a_sweep_finds_the_server_a_fork_installs() -> None:
    code, document, _ = kit("nonecorn", "--shim", "off", "--checks", "S1")
    assert [(r["server"], r["server_version"]) for r in document["results"]] == [("hypercorn", "0.18.0")]
    assert code == 0


# -- TLS in a sweep -----------------------------------------------------------------------------------

def test_a_sweep_with_tls_gives_a_server_without_tls_na_checks() -> None:
    code, document, stderr = kit("daphne", "--tls", "--checks", "S1,S5")
    (record,) = document["results"]
    assert record["server"] == "daphne"
    assert statuses(record) == {"S1": "skip", "S5": "skip"}
    assert all("has no TLS in the check kit's recipe" in d for d in details(record).values())
    assert "main run" not in stderr  # no server was started
    assert code == 0

