"""The three ways in, with real servers and real requests: every worker gets its own state.

Each test starts a real server (uvicorn ``--workers``/``--reload``, gunicorn with UvicornWorker,
hypercorn ``-w``) in a per-release environment, serves the check kit's probe app, and sends real
HTTP/1.1 requests over fresh connections until every worker has answered. Per-process state is
proven by what each worker reports: its pid, the lifespan run that filled the state *in that pid*,
and a request state that holds the lifespan's keys but nothing an earlier request wrote.

The ways in:

* ``auto``: the app module imports ``lifespan_state.auto``;
* ``factory``: the server serves ``lifespan_state.factory:create_app`` with LIFESPAN_STATE_APP;
* ``launcher``: ``lifespan-state run -- <server command>`` with an unmodified app module;
* ``launcher+factory``: both (the issue's "done when" command).

Negative controls (no shim, or the launcher switched off) must show no state, so the positive
assertions can fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence

import pytest
from tools.envs import EnvSpec, ensure_env
from tools.envs import activated_env as server_env
from tools.releases import SERVERS

from lifespan_state.check import ProtocolError
from lifespan_state.check._runner import free_port, http_get
from script_support import SCRIPTS

PROBE = "lifespan_state.check._probe"

#: Environments (tools.envs). gunicorn is pinned: 27.x opens a control socket in $HOME that
#: concurrent runs would share.
UVICORN_OLD = EnvSpec("uvicorn", SERVERS["uvicorn"].debian, extra=("gunicorn==23.0.0",))
UVICORN_NEW = EnvSpec("uvicorn", SERVERS["uvicorn"].newest)
UVICORN_NO_FACTORY = EnvSpec("uvicorn", "0.12.3")  # uvicorn < 0.13 has no --factory
HYPERCORN_16 = EnvSpec("hypercorn", SERVERS["hypercorn"].last_stateless)
HYPERCORN_14 = EnvSpec("hypercorn", "0.14.4")  # 0.14.2+ spawns even a single worker
HYPERCORN_NEW = EnvSpec("hypercorn", SERVERS["hypercorn"].newest)
#: Debian 12's releases on the oldest Python we support.
DEBIAN_UVICORN = EnvSpec("uvicorn", SERVERS["uvicorn"].debian, python="3.8")
DEBIAN_HYPERCORN = EnvSpec("hypercorn", SERVERS["hypercorn"].debian, python="3.8")

#: The Starlette app of the issue's commands (served as app:app).
WORKER_APP = SCRIPTS / "worker_app.py"

PLAIN_APP = f"from {PROBE} import app  # noqa: F401 - no activation here\n"
AUTO_APP = f"import lifespan_state.auto  # noqa: F401\nfrom {PROBE} import app  # noqa: F401\n"
FACTORY_APP = f"def make():\n    from {PROBE} import app\n\n    return app\n"


# --------------------------------------------------------------------------- running servers


def venv(spec: EnvSpec) -> Path:
    return ensure_env(spec) / "bin"


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def request(port: int, path: str = "/", timeout: float = 10.0) -> Dict[str, Any]:
    """One GET over a fresh HTTP/1.1 connection (fresh, so the kernel may pick another worker)."""
    response = http_get(port, path, timeout=timeout)
    assert response.status == 200, (response.status, response.body[:500])
    return dict(response.json())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # The server runs in its own session: its workers share its process group.
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with suppress(ProcessLookupError):  # workers that outlived their parent
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def serve(
    argv: Sequence[str], *, cwd: Path, env: Dict[str, str], port: int, timeout: float = 45.0
) -> Iterator[Running]:
    log = cwd / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    running = Running(proc, port, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{running.output()}")
            try:
                request(port, "/", timeout=2.0)
                break
            except (OSError, ProtocolError):
                if time.monotonic() > deadline:
                    pytest.fail(f"server not ready after {timeout}s:\n{running.output()}")
                time.sleep(0.1)
        yield running
    finally:
        _stop(proc)


def collect(port: int, workers: int, *, at_least: int = 12, limit: int = 300) -> List[Dict[str, Any]]:
    """Requests over fresh connections until ``workers`` distinct pids answered (and ``at_least``)."""
    responses: List[Dict[str, Any]] = []
    pids = set()
    for i in range(limit):
        view = request(port, f"/?write=w{i}")
        view["_i"] = i
        responses.append(view)
        pids.add(view["pid"])
        if len(pids) >= workers and len(responses) >= at_least:
            break
    return responses


def assert_per_process_state(responses: List[Dict[str, Any]], workers: int, parent: int) -> None:
    pids = {r["pid"] for r in responses}
    assert len(pids) >= workers, f"only {len(pids)} of {workers} workers answered: {pids}"
    for r in responses:
        assert r["has_state"] and r["state_type"] == "dict", r
        # The state this worker hands out was filled by a lifespan run in this very process...
        assert r["lifespan"] is not None and r["lifespan"]["pid"] == r["pid"], r
        assert r["lifespan"]["empty_at_startup"] is True, r
        assert r["run"] == 1, r
        # ...and each request got its own copy: nothing an earlier request wrote is in it.
        assert set(r["keys"]) == {"items", "obj", "run", f"w{r['_i']}"}, r
        assert r["is_lifespan_dict"] is False, r
    if workers:
        assert parent not in pids, "the requests were served by the parent, not by workers"


def assert_no_state(responses: List[Dict[str, Any]]) -> None:
    assert responses and all(r["has_state"] is False for r in responses), responses[:2]


# --------------------------------------------------------------------------- the ways in


@pytest.fixture()
def appdir(tmp_path: Path) -> Path:
    (tmp_path / "plain_app.py").write_text(PLAIN_APP)
    (tmp_path / "auto_app.py").write_text(AUTO_APP)
    (tmp_path / "factory_app.py").write_text(FACTORY_APP)
    return tmp_path


FACTORY = "lifespan_state.factory:create_app"


def uvicorn_argv(way: str, extra: Sequence[str]) -> List[str]:
    app = {"auto": "auto_app:app", "factory": FACTORY, "launcher+factory": FACTORY}.get(way, "plain_app:app")
    argv = ["uvicorn", app, *(["--factory"] if "factory" in way else []), *extra]
    return launch(way, argv)


def hypercorn_argv(way: str, extra: Sequence[str]) -> List[str]:
    app = {"auto": "auto_app:app", "factory": FACTORY + "()", "launcher+factory": FACTORY + "()"}.get(
        way, "plain_app:app"
    )
    return launch(way, ["hypercorn", *extra, app])


def gunicorn_argv(way: str, extra: Sequence[str]) -> List[str]:
    app = {"auto": "auto_app:app", "factory": FACTORY + "()"}.get(way, "plain_app:app")
    return launch(way, ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", *extra, app])


def launch(way: str, argv: List[str]) -> List[str]:
    return ["lifespan-state", "run", "--", *argv] if way.startswith("launcher") else argv


def env_for(bindir: Path, way: str, **extra: str) -> Dict[str, str]:
    if "factory" in way:
        extra.setdefault("LIFESPAN_STATE_APP", "plain_app:app")
    return server_env(bindir, **extra)


WAYS = ["auto", "factory", "launcher"]

#: Each server's options for two worker processes on ``{port}`` (before the app, as its CLI has it).
TWO_WORKERS = {
    "uvicorn": (uvicorn_argv, ["--workers", "2", "--host", "127.0.0.1", "--port", "{port}"]),
    "hypercorn": (hypercorn_argv, ["-w", "2", "-b", "127.0.0.1:{port}"]),
}


def two_workers(server: str, way: str, port: int) -> List[str]:
    """The command serving the probe app with two workers, the way ``way`` in (any other value,
    e.g. "none": the plain app, no way in)."""
    argv, extra = TWO_WORKERS[server]
    return argv(way, [arg.format(port=port) for arg in extra])


def serve_two_workers(appdir: Path, spec: EnvSpec, server: str, way: str) -> str:
    """Every worker gets its own state; the server's output."""
    bindir = venv(spec)
    port = free_port()
    with serve(two_workers(server, way, port), cwd=appdir, env=env_for(bindir, way), port=port) as running:
        assert_per_process_state(collect(port, 2), 2, running.proc.pid)
        return running.output()


def _releases(uvicorn: EnvSpec, hypercorn: EnvSpec) -> List[Any]:
    """(server, spec) parameters: the uvicorn release, and the hypercorn one (needs its shim)."""
    return [
        pytest.param("uvicorn", uvicorn, id="uvicorn"),
        pytest.param("hypercorn", hypercorn, id="hypercorn"),
    ]


@pytest.mark.parametrize("way", [*WAYS, "launcher+factory"])
@pytest.mark.parametrize(("server", "spec"), _releases(UVICORN_OLD, HYPERCORN_16))
def test_two_workers(appdir: Path, server: str, spec: EnvSpec, way: str) -> None:
    output = serve_two_workers(appdir, spec, server, way)
    assert "ActivationTooLateWarning" not in output


@pytest.mark.parametrize(("server", "spec"), _releases(UVICORN_OLD, HYPERCORN_16))
def test_two_workers_without_shim_have_no_state(appdir: Path, server: str, spec: EnvSpec) -> None:
    """Negative control: the same command without any way in serves no state."""
    bindir = venv(spec)
    port = free_port()
    with serve(two_workers(server, "none", port), cwd=appdir, env=server_env(bindir), port=port):
        assert_no_state(collect(port, 2))


def test_launcher_switched_off_by_env(appdir: Path) -> None:
    bindir = venv(UVICORN_OLD)
    port = free_port()
    env = server_env(bindir, LIFESPAN_STATE_DISABLE="1")
    with serve(two_workers("uvicorn", "launcher", port), cwd=appdir, env=env, port=port):
        assert_no_state(collect(port, 2))


@pytest.mark.slow
def test_launcher_python_m_uvicorn(appdir: Path) -> None:
    bindir = venv(UVICORN_OLD)
    port = free_port()
    command = ["python", "-m", "uvicorn", "plain_app:app", "--workers", "2", "--port", str(port)]
    argv = launch("launcher", command)
    with serve(argv, cwd=appdir, env=server_env(bindir), port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)


@pytest.mark.parametrize("way", ["attribute", "launcher"])
def test_uvicorn_without_factory_flag(appdir: Path, way: str) -> None:
    """uvicorn < 0.13 has no --factory: ``lifespan_state.factory:app`` resolves when looked up."""
    bindir = venv(UVICORN_NO_FACTORY)
    port = free_port()
    app = "lifespan_state.factory:app" if way == "attribute" else "plain_app:app"
    argv = launch(way, ["uvicorn", app, "--workers", "2", "--port", str(port)])
    env = server_env(bindir, LIFESPAN_STATE_APP="plain_app:app")
    with serve(argv, cwd=appdir, env=env, port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)


def _touch_until_reloaded(appdir: Path, port: int, before: int, timeout: float = 30.0) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    module = appdir / "plain_app.py"
    while time.monotonic() < deadline:
        module.write_text(module.read_text() + "# touched\n")
        settle = time.monotonic() + 3.0
        while time.monotonic() < settle:
            try:
                view = request(port, "/", timeout=2.0)
            except (OSError, ProtocolError):
                time.sleep(0.1)  # between the old child and the new one
                continue
            if view["pid"] != before:
                return view
            time.sleep(0.2)
    pytest.fail("uvicorn did not restart its child after the app module changed")


@pytest.mark.parametrize("way", WAYS)
def test_uvicorn_0_17_reload(appdir: Path, way: str) -> None:
    """--reload: the new child (spawned) gets a fresh state of its own."""
    bindir = venv(UVICORN_OLD)
    port = free_port()
    argv = uvicorn_argv(way, ["--reload", "--reload-dir", str(appdir), "--port", str(port)])
    with serve(argv, cwd=appdir, env=env_for(bindir, way), port=port) as server:
        request(port, "/?append=a")
        first = request(port, "/?append=b")
        assert first["has_state"] and first["items"] == ["a", "b"], first  # one state, shallow copies
        assert first["pid"] != server.proc.pid  # served by the reload child, not the reloader
        fresh = _touch_until_reloaded(appdir, port, first["pid"])
        assert fresh["has_state"] and fresh["lifespan"]["pid"] == fresh["pid"], fresh
        assert fresh["items"] == [] and fresh["run"] == 1, fresh


@pytest.mark.parametrize("way", WAYS)
def test_gunicorn_uvicorn_worker(appdir: Path, way: str) -> None:
    bindir = venv(UVICORN_OLD)
    port = free_port()
    argv = gunicorn_argv(way, ["-w", "2", "-b", f"127.0.0.1:{port}"])
    # LIFESPAN_STATE_APP may name an app factory too: it is called in each worker.
    env = env_for(bindir, way, LIFESPAN_STATE_APP="factory_app:make")
    with serve(argv, cwd=appdir, env=env, port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)


@pytest.mark.parametrize("way", WAYS)
def test_hypercorn_0_14_one_worker(appdir: Path, way: str) -> None:
    """hypercorn 0.14.2+ spawns even its single worker: parent activation would be lost."""
    bindir = venv(HYPERCORN_14)
    port = free_port()
    argv = hypercorn_argv(way, ["-w", "1", "-b", f"127.0.0.1:{port}"])
    with serve(argv, cwd=appdir, env=env_for(bindir, way), port=port) as server:
        assert_per_process_state(collect(port, 1), 1, server.proc.pid)


def _mode(view: Dict[str, Any], server: str) -> Dict[str, Any]:
    """What the worker that answered ``?status=1`` reports about the shim for ``server``."""
    info = view["acted"]["status"][server]
    return {"mode": info["mode"], "patched": info["patched"], "state_apps": view["acted"]["state_apps"]}


def _table_mode(bindir: Path, server: str, version: str) -> str:
    """The mode the versions table gives ``version`` (read in the environment that has the package)."""
    argv = [str(bindir / "python"), str(SCRIPTS / "table_mode.py"), server, version]
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout.strip()


def test_newest_uvicorn_through_launcher_wraps_nothing(appdir: Path) -> None:
    bindir = venv(UVICORN_NEW)
    port = free_port()
    argv = uvicorn_argv("launcher", ["--workers", "2", "--port", str(port)])
    with serve(argv, cwd=appdir, env=server_env(bindir), port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)
        found = _mode(request(port, "/?status=1"), "uvicorn")
        assert found["mode"] == "native" and found["patched"] == [], found
        assert found["state_apps"] in (0, None), found  # no StateApp exists in the worker


def test_newest_hypercorn_through_launcher(appdir: Path) -> None:
    bindir = venv(HYPERCORN_NEW)
    expected = _table_mode(bindir, "hypercorn", HYPERCORN_NEW.version)
    port = free_port()
    argv = hypercorn_argv("launcher", ["-w", "2", "-b", f"127.0.0.1:{port}"])
    with serve(argv, cwd=appdir, env=server_env(bindir), port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)
        found = _mode(request(port, "/?status=1"), "hypercorn")
        assert found["mode"] == expected, found
        if expected == "native":
            assert found["patched"] == [] and found["state_apps"] in (0, None), found
        else:
            assert found["patched"], found



@pytest.mark.slow
@pytest.mark.parametrize("way", [*WAYS, "launcher+factory"])
@pytest.mark.parametrize(("server", "spec"), _releases(DEBIAN_UVICORN, DEBIAN_HYPERCORN))
def test_debian_on_python_3_8(appdir: Path, server: str, spec: EnvSpec, way: str) -> None:
    serve_two_workers(appdir, spec, server, way)


@pytest.mark.slow
@pytest.mark.parametrize("way", WAYS)
def test_gunicorn_preload(appdir: Path, way: str) -> None:
    """--preload loads the app in the master before forking: the workers inherit activation."""
    bindir = venv(UVICORN_OLD)
    port = free_port()
    argv = gunicorn_argv(way, ["--preload", "-w", "2", "-b", f"127.0.0.1:{port}"])
    with serve(argv, cwd=appdir, env=env_for(bindir, way), port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)


@pytest.mark.slow
def test_hypercorn_0_16_reload_through_launcher(appdir: Path) -> None:
    bindir = venv(HYPERCORN_16)
    port = free_port()
    argv = hypercorn_argv("launcher", ["--reload", "-b", f"127.0.0.1:{port}"])
    with serve(argv, cwd=appdir, env=server_env(bindir), port=port) as server:
        request(port, "/?append=a")
        first = request(port, "/?append=b")
        assert first["has_state"] and first["items"] == ["a", "b"], first
        assert first["pid"] != server.proc.pid
        fresh = _touch_until_reloaded(appdir, port, first["pid"])
        assert fresh["has_state"] and fresh["items"] == [] and fresh["lifespan"]["pid"] == fresh["pid"], fresh


# --------------------------------------------------------------------------- the commands

UVICORN_STARLETTE = EnvSpec("uvicorn", SERVERS["uvicorn"].debian, extra=("starlette>=0.26",))
HYPERCORN_STARLETTE = EnvSpec("hypercorn", SERVERS["hypercorn"].last_stateless, extra=("starlette>=0.26",))

def worker_hits(port: int, parent: int, at_least: int) -> Dict[int, List[int]]:
    """Requests to ``WORKER_APP`` until two workers (not ``parent``) and ``at_least`` requests
    answered: each saw the state its own worker's lifespan yielded and no other request's key.
    Worker pid -> the ``hits`` count of each of its requests."""
    hits: Dict[int, List[int]] = {}
    for _ in range(300):
        view = request(port)
        assert view["state_pid"] == view["pid"] and view["saw_other_request"] is False, view
        hits.setdefault(view["pid"], []).append(view["hits"])
        if len(hits) >= 2 and sum(map(len, hits.values())) >= at_least:
            break
    assert len(hits) >= 2 and parent not in hits, hits
    return hits


DONE_WHEN = {
    # LIFESPAN_STATE_APP=app:app lifespan-state run --
    #     uvicorn lifespan_state.factory:create_app --factory --workers 2
    ("uvicorn", "launcher+factory"): ["uvicorn", FACTORY, "--factory", "--workers", "2", "--port", "{port}"],
    # lifespan-state run -- uvicorn app:app --workers 2
    ("uvicorn", "launcher"): ["uvicorn", "app:app", "--workers", "2", "--port", "{port}"],
    ("hypercorn", "launcher+factory"): ["hypercorn", "-w", "2", "-b", "127.0.0.1:{port}", FACTORY + "()"],
    ("hypercorn", "launcher"): ["hypercorn", "-w", "2", "-b", "127.0.0.1:{port}", "app:app"],
}


@pytest.mark.parametrize(("server", "way"), list(DONE_WHEN))
def test_done_when_commands_with_starlette(tmp_path: Path, server: str, way: str) -> None:
    """The issue's own commands, with a Starlette app whose lifespan yields state (Starlette
    refuses such a lifespan on a server without state)."""
    shutil.copy(WORKER_APP, tmp_path / "app.py")
    bindir = venv(UVICORN_STARLETTE if server == "uvicorn" else HYPERCORN_STARLETTE)
    port = free_port()
    argv = launch(way, [arg.format(port=port) for arg in DONE_WHEN[(server, way)]])
    env = server_env(bindir, LIFESPAN_STATE_APP="app:app")
    with serve(argv, cwd=tmp_path, env=env, port=port) as running:
        hits = worker_hits(port, running.proc.pid, at_least=12)
        for seen in hits.values():  # each worker counts its own requests: its own lifespan state
            assert seen == sorted(seen) and len(set(seen)) == len(seen), hits


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_starlette_refuses_to_start_without_a_way_in(tmp_path: Path, server: str) -> None:
    """Negative control of the test above: the same app on the bare server stops at startup."""
    shutil.copy(WORKER_APP, tmp_path / "app.py")
    bindir = venv(UVICORN_STARLETTE if server == "uvicorn" else HYPERCORN_STARLETTE)
    port = free_port()
    # One process serving (uvicorn without --workers, hypercorn -w 0) exits on a failed startup.
    argv = (
        ["uvicorn", "app:app", "--port", str(port)]
        if server == "uvicorn"
        else ["hypercorn", "-w", "0", "-b", f"127.0.0.1:{port}", "app:app"]
    )
    done = subprocess.run(
        argv, cwd=tmp_path, env=server_env(bindir), capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert 'The server does not support "state" in the lifespan scope.' in output, output


def test_launcher_python_without_the_venv_on_path(tmp_path: Path) -> None:
    """``env -i PATH=/usr/bin:/bin .venv/bin/lifespan-state run -- python -m uvicorn app:app``:
    "python" is the launcher's own environment (not /usr/bin/python), and the exec keeps it, so
    the server and its spawned workers have the shim."""
    shutil.copy(WORKER_APP, tmp_path / "app.py")
    bindir = venv(UVICORN_STARLETTE)
    port = free_port()
    argv = [str(bindir / "lifespan-state"), "run", "--", "python", "-m", "uvicorn", "app:app"]
    argv += ["--workers", "2", "--port", str(port)]
    with serve(argv, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, port=port) as running:
        worker_hits(port, running.proc.pid, at_least=8)
    assert "lifespan-state" not in running.output(), running.output()  # no warning either
