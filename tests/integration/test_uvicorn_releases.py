"""The check kit against real uvicorn releases, each in its own virtual environment.

Every case is a cell of the compatibility matrix (``tools.matrix.Cell``): the same environment
builder (``tools.envs``, with the pins old releases need) and the same runner, so these tests and
``compat_matrix.json`` cannot disagree about how a release was installed or checked.

The default run checks one configuration per release, chosen so that every HTTP and WebSocket
implementation appears at least once; ``-m slow`` runs every implementation of every release.
Negative controls (the release alone, shim off) are asserted to fail the check they must fail.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pytest
from packaging.version import Version
from tools.envs import EnvSpec, ensure_env
from tools.matrix import Cell, Outcome, run_cells
from tools.releases import DEBIAN, SERVERS, limit_for

from lifespan_state._versions import mode_for
from lifespan_state.check._h1 import HTTP1Connection
from lifespan_state.check._runner import ServerProcess, ServerStartError, free_port
from script_support import SCRIPTS

#: (release, Python, http, ws) — one per release in the default run; together they cover h11 and
#: httptools, and websockets, wsproto and websockets-sansio.
DEFAULT_CASES: Sequence[Tuple[str, str, str, str]] = (
    ("0.11.8", "3.8", "h11", "websockets"),
    ("0.13.4", "3.9", "httptools", "wsproto"),
    ("0.15.0", "3.10", "httptools", "websockets"),
    (SERVERS["uvicorn"].debian, DEBIAN.python, "h11", "wsproto"),
    (SERVERS["uvicorn"].last_stateless, "3.11", "httptools", "websockets"),
    (SERVERS["uvicorn"].buggy, "3.11", "h11", "websockets"),
    (SERVERS["uvicorn"].reference, "3.12", "httptools", "wsproto"),
    (SERVERS["uvicorn"].newest, "3.13", "h11", "websockets-sansio"),
)


def _implementations(version: str, python: str) -> List[Tuple[str, str]]:
    """Every (http, ws) pair the release has and that runs on ``python`` (``tools.releases.limit_for``)."""
    wss = ["websockets", "wsproto"] + (["websockets-sansio"] if Version(version) >= Version("0.35") else [])
    pairs = [(h, w) for h in ("h11", "httptools") for w in wss]
    return [(h, w) for h, w in pairs if limit_for("uvicorn", version, python, h, w, "asyncio") is None]


def _cell(version: str, python: str, http: str, ws: str) -> Cell:
    return Cell("uvicorn", version, python, "2.x", http, ws, "asyncio")


DEFAULT_CELLS = [_cell(*case) for case in DEFAULT_CASES]
SLOW_CELLS = [
    _cell(version, python, http, ws)
    for version, python, _, _ in DEFAULT_CASES
    for http, ws in _implementations(version, python)
    if _cell(version, python, http, ws) not in DEFAULT_CELLS
]


def _expected_mode(version: str) -> str:
    entry = mode_for("uvicorn", Version(version))
    assert entry is not None, version
    return entry.mode


#: What a release alone must fail (the negative controls), by the mode the shim picks for it:
#: no state at all; one copy per connection (upstream #1902); nothing.
NATIVE_FAILURES: Dict[str, Tuple[str, ...]] = {"add": ("S1",), "fix": ("S5",), "native": ()}


def _expected_native_failures(version: str) -> Tuple[str, ...]:
    return NATIVE_FAILURES[_expected_mode(version)]


@pytest.fixture(scope="module")
def default_outcomes() -> Dict[str, Outcome]:
    """Every default cell, two at a time (each check run is mostly waiting on its servers)."""
    return {o.cell.id: o for o in run_cells(DEFAULT_CELLS, workers=2, stream=_Quiet())}


class _Quiet:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def _assert_outcome(outcome: Outcome) -> None:
    version = outcome.cell.server_version
    where = f"{outcome.cell.label}: {outcome.reason}"
    assert outcome.native != "cannot-run", where
    assert outcome.shim == "pass", where
    assert outcome.failed_shim == [], where
    assert outcome.mode == _expected_mode(version), where
    expected = _expected_native_failures(version)
    if expected:
        # The negative control: the release alone fails exactly the defect it has.
        assert outcome.native == "fail", where
        for check in expected:
            assert check in outcome.failed_native, (check, outcome.failed_native)
    else:
        assert outcome.native == "pass", (outcome.failed_native, where)


# The first test using ``default_outcomes`` pays for all eight cells (environments built from a cold
# cache included): more than the suite's per-test default.
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("cell", DEFAULT_CELLS, ids=lambda c: c.id)
def test_release(cell: Cell, default_outcomes: Dict[str, Outcome]) -> None:
    _assert_outcome(default_outcomes[cell.id])


@pytest.mark.timeout(1500)
def test_negative_controls_fail_what_they_must(default_outcomes: Dict[str, Outcome]) -> None:
    """0.20.0 alone fails S1; 0.21.0 alone fails S5 but not S1 — and both pass with the shim."""
    before = default_outcomes[_cell(SERVERS["uvicorn"].last_stateless, "3.11", "httptools", "websockets").id]
    buggy = default_outcomes[_cell(SERVERS["uvicorn"].buggy, "3.11", "h11", "websockets").id]
    assert "S1" in before.failed_native
    assert "S5" in buggy.failed_native and "S1" not in buggy.failed_native
    assert before.shim == buggy.shim == "pass"


@pytest.mark.slow
@pytest.mark.parametrize("cell", SLOW_CELLS, ids=lambda c: c.id)
def test_release_every_implementation(cell: Cell) -> None:
    (outcome,) = run_cells([cell], workers=1, stream=_Quiet())
    _assert_outcome(outcome)


# -- real frameworks on Debian 12's uvicorn 0.17.6 --------------------------------------------------

FRAMEWORK_APP = SCRIPTS / "framework_app.py"
FRAMEWORKS = ("fastapi", "starlette")


@pytest.fixture(scope="module")
def framework_env() -> Path:
    return ensure_env(
        EnvSpec("uvicorn", SERVERS["uvicorn"].debian, DEBIAN.python, wrapt="2.*",
                extra=("starlette>=0.26", "fastapi>=0.94"))
    )


def _server(env: Path, framework: str, shim: bool) -> ServerProcess:
    port = free_port()
    argv = [str(env / "bin" / "python"), "-m", "uvicorn", "framework_app:app", "--port", str(port),
            "--lifespan", "on", "--app-dir", str(FRAMEWORK_APP.parent)]
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ.update(FRAMEWORK=framework, WITH_SHIM="1" if shim else "0")
    return ServerProcess(argv, port=port, env=environ, start_timeout=30.0)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_framework_app_on_debians_release_with_the_shim(framework: str, framework_env: Path) -> None:
    server = _server(framework_env, framework, shim=True)
    with server, HTTP1Connection(server.host, server.port) as conn:
        first = conn.get("/?n=1").json()
        second = conn.get("/?n=2").json()
        assert conn.requests_sent == 2 and not conn.server_closed  # one keep-alive connection
    assert first["seen"] is None
    assert second["seen"] is None  # per-request copy: the first request's key is gone
    assert second["pool"] == first["pool"]  # the lifespan's object itself
    assert second["hits"] == ["1", "2"]  # shallow: the shared list is the lifespan's


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_framework_app_on_debians_release_without_the_shim_fails_to_start(
    framework: str, framework_env: Path
) -> None:
    server = _server(framework_env, framework, shim=False)
    with pytest.raises(ServerStartError) as failure:
        server.start()
    server.stop()
    assert 'does not support "state"' in failure.value.output


def test_framework_env_has_the_release_it_claims(framework_env: Path) -> None:
    done = subprocess.run(
        [str(framework_env / "bin" / "python"), str(FRAMEWORK_APP.parent / "dist_version.py"), "uvicorn"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == SERVERS["uvicorn"].debian
