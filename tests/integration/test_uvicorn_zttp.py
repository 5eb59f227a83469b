"""uvicorn's zttp stack (``--http zttp --http2``, uvicorn 0.53+ with the zttp package) through the check
kit: HTTP/2 over cleartext (prior knowledge) and over TLS (ALPN), natively and with the shim.

uvicorn's zttp protocols read ``config.loaded_app`` and the run's ``lifespan.state`` as the h11 and
httptools ones do, so the shim's one hook point (the lifespan object's ``__init__``) covers them;
0.55.0 copies per request natively, so the shim's mode there is native. The tests assert that the
HTTP/2 transports really ran (their labels in the checks' details), and that the kit refuses
``--http zttp`` where zttp is not installed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
from tools.envs import EnvSpec, activated_env, ensure_env

from lifespan_state.check import CHECKS

CLIENTS = ("h2", "wsproto", "trustme")


def _check(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "lifespan_state", "check", "--server", "uvicorn", *args],
                          env=activated_env(python.parent), capture_output=True, text=True, timeout=600,
                          check=False)


@pytest.fixture(scope="module")
def zttp() -> Path:
    return ensure_env(EnvSpec("uvicorn", "0.55.0", extra=(*CLIENTS, "zttp==0.0.35"))) / "bin" / "python"


def _records(done: subprocess.CompletedProcess[str]) -> List[Dict[str, Any]]:
    assert done.returncode == 0, done.stdout + done.stderr
    return list(json.loads(done.stdout)["results"])


@pytest.mark.parametrize(("tls", "transport"), [((), "HTTP/2 cleartext (prior knowledge)"),
                                                (("--tls",), "HTTP/2 over TLS (ALPN)")])
def test_zttp_http2_passes_natively_and_with_the_shim(zttp: Path, tls: tuple, transport: str) -> None:
    native, shimmed = _records(_check(zttp, "--http", "zttp", *tls, "--json", "--shim", "both"))
    assert native["server_version"] == "0.55.0" and native["config"]["http"] == "zttp"
    assert shimmed["mode"] == "native"
    for record in (native, shimmed):
        statuses = {c["id"]: c["status"] for c in record["checks"]}
        assert [k for k, v in statuses.items() if v == "fail"] == [], record["checks"]
        details = {c["id"]: c["detail"] for c in record["checks"]}
        # The per-connection checks ran over HTTP/2, not only HTTP/1.1.
        for check in ("S5", "S7", "S11"):
            assert transport in details[check], details[check]
    assert {c["id"] for c in shimmed["checks"] if c["status"] == "pass"} == set(CHECKS) - {"S13"}  # a server


def test_zttp_is_refused_where_it_is_not_installed() -> None:
    python = ensure_env(EnvSpec("uvicorn", "0.55.0", extra=CLIENTS)) / "bin" / "python"
    done = _check(python, "--http", "zttp", "--checks", "S1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "http='zttp' is not available here" in done.stderr, done.stderr
