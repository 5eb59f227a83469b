"""The kit's middleware arm (``lifespan-state check --shim middleware``: the probe wrapped by
``LifespanStateMiddleware``, nothing activated) on every server and harness of the field page,
each in the environment of the release the page names (``tools/field.py``).

Where a lifespan runs, every applicable check of S1-S11 passes with the middleware alone — on the
releases whose own state is wrong (granian's emptied dict, hypercorn's and anycorn's snapshots)
too. Where none runs (a recipe that ``lacks`` the protocol), the checks that need the lifespan's
state fail and say why, while every request still gets an empty dict of its own.
"""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
import tools.field as field

from lifespan_state.check import RECIPES

pytestmark = pytest.mark.timeout(900)

#: Checks that need a lifespan that ran (a runtime without one fails them).
_NEED_A_RUN = {"S1", "S2", "S4", "S7", "S10"}
#: anycorn 0.20.1 over TLS can die at SIGINT before lifespan.shutdown (its descriptor's
#: ``field_page`` note): a third-party race a loaded machine widens, so the slow tier.
_RACY = {"anycorn"}
#: What the middleware cannot mend where a lifespan runs: the runtime never delivers the message
#: (AsgiFunctionApp's __del__ sends lifespan.shutdown on a new event loop and never returns).
#: nonecorn 0.18.0's HTTP/3 cuts every response off (trailers, then DATA: its framing; its other
#: transports pass), and the client says the connection closed.
_BEYOND_THE_APP = {
    "azure-functions": {"S10": "saw no lifespan.shutdown"},
    "nonecorn": {check: "HTTP/3: the connection closed before the response ended"
                 for check in ("S5", "S7", "S11")},
}


def _columns() -> List[Any]:
    return [pytest.param(c, marks=pytest.mark.slow) if c in _RACY else c
            for c in [*field.NEWEST, *field.HARNESSES]]


def _statuses(record: Dict[str, Any]) -> Dict[str, Dict[str, str]]:
    return {c["id"]: c for c in record["checks"]}


@pytest.mark.parametrize("column", _columns())
def test_the_middleware_alone_passes_where_a_lifespan_runs(column: str) -> None:
    records, error = field.run_server(column, shim="middleware")
    assert not error, error
    (record,) = records
    assert (record["shim"], record["mode"]) == ("middleware", None)
    checks = _statuses(record)
    assert checks["S12"]["status"] == "skip" and "middleware arm" in checks["S12"]["detail"]
    lacks = RECIPES[column].launch.lacks if column in RECIPES else ""
    failed = {i for i, c in checks.items() if c["status"] == "fail"}
    if not lacks:
        beyond = _BEYOND_THE_APP.get(column, {})
        assert failed == set(beyond), {i: checks[i]["detail"] for i in failed}
        for check, why in beyond.items():
            assert why in checks[check]["detail"], checks[check]
        return
    # No lifespan at all: nothing the middleware could hand out, and the report says why; every
    # request still gets its own empty dict (S3, S5, S8, S11).
    assert lacks in checks["S1"]["detail"] and "never received a lifespan scope" in checks["S1"]["detail"]
    assert failed >= _NEED_A_RUN, checks
    for check in ("S3", "S5", "S8", "S11"):
        assert checks[check]["status"] == "pass", checks[check]


def test_any_server_command_gets_the_middleware_arm_and_the_arm_can_fail() -> None:
    """``--command`` too: gunicorn 26.2.0's worker hands every request the lifespan dict itself —
    natively that fails S3, S5 and S11 (the negative control); the middleware alone passes them."""
    import json
    import subprocess

    from tools.envs import EnvSpec, ensure_env

    python = ensure_env(EnvSpec("gunicorn", "26.2.0")) / "bin" / "python"
    command = "{python} -m gunicorn -k asgi -w 1 -b {host}:{port} {app}"
    verdicts = {}
    for arm in ("off", "middleware"):
        done = subprocess.run(
            [str(python), "-m", "lifespan_state", "check", "--json", "--shim", arm, "--name", "gunicorn",
             "--checks", "S3,S4,S5,S11", "--command", command],
            capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        (record,) = json.loads(done.stdout)["results"]
        assert record["shim"] == arm
        verdicts[arm] = {c["id"]: c["status"] for c in record["checks"]}
    assert {i for i, status in verdicts["off"].items() if status == "fail"} >= {"S3", "S5", "S11"}, verdicts
    assert set(verdicts["middleware"].values()) == {"pass"}, verdicts
