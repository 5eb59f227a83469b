"""The launcher and tracing agents' own bootstraps, nested either way, with real processes.

``opentelemetry-instrument``, ``ddtrace-run`` and ``newrelic-admin run-program`` each put a
``sitecustomize`` of their own first on ``PYTHONPATH`` and exec the command, as
``lifespan-state run`` does. Whichever runs inside which, every worker the server spawns must
serve a Starlette app whose lifespan yields state (Starlette refuses to start without it) and
the agent must still see each request (its own current span / transaction, reported by the app;
OpenTelemetry's console exporter must also print the request spans).

The agents run without a backend: OpenTelemetry exports to the console, ddtrace sends to a port
nothing listens on (its dropped-traces message is expected), New Relic runs in developer mode.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import pytest
from tools.envs import EnvError, EnvSpec, ensure_env
from tools.envs import activated_env as server_env
from tools.releases import SERVERS as RELEASES

from lifespan_state.check._runner import ServerProcess, free_port
from script_support import SCRIPTS

APP = SCRIPTS / "agent_app.py"
STARLETTE = "starlette==1.10.0"


@dataclass(frozen=True)
class Agent:
    command: Tuple[str, ...]
    packages: Tuple[str, ...]
    env: Tuple[Tuple[str, str], ...]


AGENTS = {
    "opentelemetry": Agent(
        ("opentelemetry-instrument",),
        ("opentelemetry-distro==0.66b1", "opentelemetry-instrumentation-starlette==0.66b1"),
        (
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),  # print spans within 0.1 s, not 5 s
            ("OTEL_SERVICE_NAME", "lifespan-state-test"),
        ),
    ),
    "ddtrace": Agent(
        ("ddtrace-run",),
        ("ddtrace==4.16.0",),
        (
            ("DD_TRACE_AGENT_URL", "http://127.0.0.1:9"),  # discard: nothing listens there
            ("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false"),
            ("DD_REMOTE_CONFIGURATION_ENABLED", "false"),
            ("DD_TRACE_STARTUP_LOGS", "false"),
        ),
    ),
    "newrelic": Agent(
        ("newrelic-admin", "run-program"),
        ("newrelic==14.1.0",),
        (
            ("NEW_RELIC_DEVELOPER_MODE", "true"),  # no collector, no real key
            ("NEW_RELIC_LICENSE_KEY", "0" * 40),
            ("NEW_RELIC_APP_NAME", "lifespan-state-test"),
            ("NEW_RELIC_STARTUP_TIMEOUT", "10"),  # record the very first request too
        ),
    ),
}

SERVERS = {"uvicorn": RELEASES["uvicorn"].debian, "hypercorn": RELEASES["hypercorn"].last_stateless}
LAUNCHER = ("lifespan-state", "run", "--")

#: (agent, server): OpenTelemetry on both servers, the other agents on uvicorn.
CASES = [
    ("opentelemetry", "uvicorn"),
    ("opentelemetry", "hypercorn"),
    ("ddtrace", "uvicorn"),
    ("newrelic", "uvicorn"),
]
ORDERS = ["launcher-outside", "agent-outside"]


def _bindir(agent: str, server: str) -> Path:
    spec = EnvSpec(server, SERVERS[server], extra=(STARLETTE, *AGENTS[agent].packages))
    try:
        return ensure_env(spec) / "bin"
    except EnvError as exc:
        pytest.skip(f"{agent} does not install here: {exc.reason}")


def _server_argv(server: str, port: int) -> List[str]:
    if server == "uvicorn":
        return ["uvicorn", "app:app", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)]
    return ["hypercorn", "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"]


def _command(order: str, agent: str, server_argv: Sequence[str]) -> List[str]:
    wrapper = AGENTS[agent].command
    outer, inner = (LAUNCHER, wrapper) if order == "launcher-outside" else (wrapper, LAUNCHER)
    return [*outer, *inner, *server_argv]


def _get(port: int, timeout: float) -> Dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")  # a fresh connection each time, so either worker may answer
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body[:300])
        return dict(json.loads(body))
    finally:
        conn.close()


def _until_both_workers(port: int, parent: int, output: Any) -> List[Dict[str, Any]]:
    views: List[Dict[str, Any]] = []
    for i in range(300):
        try:
            # The parent listens before its workers are up (agents make their start slow).
            views.append(_get(port, timeout=60.0 if i == 0 else 10.0))
        except (OSError, http.client.HTTPException) as exc:
            pytest.fail(f"request failed ({exc!r}):\n{output()}")
        pids = {v["pid"] for v in views}
        if len(pids) >= 2 and len(views) >= 8:
            break
    assert len({v["pid"] for v in views}) >= 2 and parent not in {v["pid"] for v in views}, views
    return views


@pytest.fixture()
def appdir(tmp_path: Path) -> Path:
    shutil.copy(APP, tmp_path / "app.py")
    return tmp_path


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("agent", "server"), CASES)
def test_launcher_and_agent_nested(appdir: Path, agent: str, server: str, order: str) -> None:
    bindir = _bindir(agent, server)
    port = free_port()
    env = server_env(bindir, AGENT=agent, **dict(AGENTS[agent].env))
    argv = _command(order, agent, _server_argv(server, port))
    with ServerProcess(argv, port=port, env=env, cwd=str(appdir), start_timeout=60.0) as running:
        assert running.pid is not None
        views = _until_both_workers(port, running.pid, lambda: running.output)
        if agent == "opentelemetry":
            # The exporter prints a span up to a schedule delay after its request, and a worker
            # stopped before that never prints it: wait for them while the workers run.
            _until(lambda: len(_spans(running.output)) >= len(views), timeout=30.0)
    output = running.output
    for view in views:
        # Every worker serves the lifespan state its own lifespan yielded...
        assert view["state_pid"] == view["pid"], view
        # ...and the agent saw the request in that worker.
        assert view["agent"] is True, (view, output[-3000:])
    assert "Traceback" not in output and "lifespan-state: warning" not in output, output[-3000:]
    if agent == "opentelemetry":
        spans = _spans(output)
        assert len(spans) >= len(views), (len(spans), len(views), output[-3000:])


def _spans(output: str) -> List[str]:
    """The request spans OpenTelemetry's console exporter printed."""
    return re.findall(r'"name": "GET /",', output)


def _until(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.mark.parametrize("order", ORDERS)
def test_reload_child_under_opentelemetry(appdir: Path, order: str) -> None:
    """uvicorn --reload: the reload child (spawned by the reloader, after OpenTelemetry's
    initialisation moved its directory first in the reloader) has the shim and the agent."""
    bindir = _bindir("opentelemetry", "uvicorn")
    port = free_port()
    env = server_env(bindir, AGENT="opentelemetry", **dict(AGENTS["opentelemetry"].env))
    served = ["uvicorn", "app:app", "--reload", "--reload-dir", str(appdir), "--port", str(port)]
    argv = _command(order, "opentelemetry", served)
    with ServerProcess(argv, port=port, env=env, cwd=str(appdir), start_timeout=60.0) as running:
        view = _get(port, timeout=60.0)
        assert view["pid"] != running.pid, view  # served by the reload child
        assert view["state_pid"] == view["pid"] and view["agent"] is True, (view, running.output[-3000:])


def test_agent_without_the_launcher_has_no_state(appdir: Path) -> None:
    """Negative control: under the agent alone, the app refuses to start (no lifespan state)."""
    bindir = _bindir("opentelemetry", "uvicorn")
    env = server_env(bindir, AGENT="opentelemetry", **dict(AGENTS["opentelemetry"].env))
    argv = ["opentelemetry-instrument", "uvicorn", "app:app", "--port", str(free_port())]
    done = subprocess.run(argv, cwd=appdir, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert 'The server does not support "state" in the lifespan scope.' in done.stdout + done.stderr


def test_launcher_without_the_agent_reports_no_agent(appdir: Path) -> None:
    """Negative control of the agent check: the same app, agent installed but not started."""
    bindir = _bindir("opentelemetry", "uvicorn")
    port = free_port()
    env = server_env(bindir, AGENT="opentelemetry", **dict(AGENTS["opentelemetry"].env))
    argv = [*LAUNCHER, *_server_argv("uvicorn", port)]
    with ServerProcess(argv, port=port, env=env, cwd=str(appdir), start_timeout=60.0) as running:
        assert running.pid is not None
        views = _until_both_workers(port, running.pid, lambda: running.output)
    assert all(v["state_pid"] == v["pid"] and v["agent"] is False for v in views), views
    assert not re.findall(r'"name": "GET /",', running.output)
