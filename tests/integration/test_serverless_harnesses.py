"""The check kit behind the serverless adapters, in-process: ``lifespan-state check --harness mangum``
and ``--harness azure-functions`` (docs/field.md's columns of the same releases).

The shim has no module for either, so each check runs natively only, and these tests say what the
adapters do at these releases: mangum 0.22.0 runs a whole lifespan inside every invocation (what
the lifespan keeps never reaches a later request; ``lifespan="off"`` gives no state at all), and
Azure Functions' ``AsgiFunctionApp`` 1.26.0 copies its live state per request but never delivers
``lifespan.shutdown`` (its ``__del__`` awaits it on a new event loop). A release that changes
either fails here, and the field page's column with it.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict

import pytest
from tools.envs import EnvSpec, activated_env, ensure_env

from lifespan_state.check import CHECKS

ENVS = {
    "mangum": EnvSpec("mangum", "0.22.0", extra=("httpx==0.29.0",)),
    "azure-functions": EnvSpec("azure-functions", "1.26.0", extra=("httpx==0.29.0",)),
}


@pytest.fixture(scope="module")
def records() -> Dict[str, Dict[str, Any]]:
    """The one (native) record of ``check --harness NAME --shim both`` of each adapter."""
    pythons = {name: ensure_env(spec) / "bin" / "python" for name, spec in ENVS.items()}  # one by one

    def one(name: str) -> Dict[str, Any]:
        done = subprocess.run([str(pythons[name]), "-m", "lifespan_state", "check", "--harness", name,
                               "--json", "--shim", "both"], env=activated_env(pythons[name].parent),
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 1, done.stderr  # both fail checks natively
        (record,) = json.loads(done.stdout)["results"]  # no module of the shim: native only
        return dict(record)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(one, name) for name in ENVS}
        return {name: f.result() for name, f in futures.items()}


def _by_status(record: Dict[str, Any], status: str) -> Dict[str, str]:
    return {c["id"]: c["detail"] for c in record["checks"] if c["status"] == status}


def test_mangum_runs_a_lifespan_per_invocation(records: Dict[str, Dict[str, Any]]) -> None:
    record = records["mangum"]
    assert (record["server"], record["server_version"], record["shim"]) == ("mangum", "0.22.0", "off")
    fails = _by_status(record, "fail")
    assert set(fails) == {"S8"}, fails
    assert "lifespan not run: the http scope has no 'state'" in fails["S8"]
    # What a later request sees belongs to its own invocation's run: compared with an earlier
    # invocation's, it would judge two runs at once, so S3, S4 and S7 say why they are not judged.
    skips = _by_status(record, "skip")
    assert set(skips) == {"S3", "S4", "S6", "S7", "S12"}, skips
    for check in ("S3", "S4", "S7"):
        assert "another run of the same process" in skips[check], skips[check]
    # Each request gets a copy of its own invocation's state, a new run starts empty, each
    # invocation's shutdown sees its keys, nothing of a run reaches a request after it.
    passes = _by_status(record, "pass")
    assert {"S1", "S2", "S5", "S9", "S10", "S11", "S13"} <= set(passes), passes


def test_azure_functions_app_never_delivers_shutdown(records: Dict[str, Dict[str, Any]]) -> None:
    record = records["azure-functions"]
    assert (record["server"], record["server_version"]) == ("azure-functions", "1.26.0")
    assert record["shim"] == "off"
    fails = _by_status(record, "fail")
    assert list(fails) == ["S10"], fails
    assert "saw no lifespan.shutdown" in fails["S10"]
    assert set(_by_status(record, "pass")) == set(CHECKS) - {"S6", "S10", "S12"}
    assert "carries no WebSocket" in _by_status(record, "skip")["S6"]
