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

import http.client
import json
import os
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

from lifespan_state.check._runner import free_port

ROOT = Path(__file__).resolve().parent.parent
HYPERCORN_SHIM = ROOT / "shims" / "lifespan_state" / "hypercorn.py"
PROBE = "lifespan_state.check._probe"

#: Environments (tools.envs). gunicorn is pinned: 27.x opens a control socket in $HOME that
#: concurrent runs would share.
UVICORN_OLD = EnvSpec("uvicorn", "0.17.6", extra=("gunicorn==23.0.0",))
UVICORN_NEW = EnvSpec("uvicorn", "0.54.0")
UVICORN_NO_FACTORY = EnvSpec("uvicorn", "0.12.3")
HYPERCORN_16 = EnvSpec("hypercorn", "0.16.0")
HYPERCORN_14 = EnvSpec("hypercorn", "0.14.4")
HYPERCORN_NEW = EnvSpec("hypercorn", "0.18.0")
#: Debian 12's releases on the oldest Python we support.
DEBIAN_UVICORN = EnvSpec("uvicorn", "0.17.6", python="3.8")
DEBIAN_HYPERCORN = EnvSpec("hypercorn", "0.13.2", python="3.8")

needs_hypercorn_shim = pytest.mark.skipif(
    not HYPERCORN_SHIM.exists(), reason="the hypercorn shim (lifespan_state/hypercorn.py) is not there yet"
)

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
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body[:500])
        return dict(json.loads(body))
    finally:
        conn.close()


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
            except (OSError, http.client.HTTPException):
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


@pytest.mark.parametrize("way", [*WAYS, "launcher+factory"])
def test_uvicorn_0_17_workers(appdir: Path, way: str) -> None:
    bindir = venv(UVICORN_OLD)
    port = free_port()
    argv = uvicorn_argv(way, ["--workers", "2", "--host", "127.0.0.1", "--port", str(port)])
    with serve(argv, cwd=appdir, env=env_for(bindir, way), port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)
        assert "ActivationTooLateWarning" not in server.output()


def test_uvicorn_0_17_workers_without_shim_has_no_state(appdir: Path) -> None:
    """Negative control: the same command without any way in serves no state."""
    bindir = venv(UVICORN_OLD)
    port = free_port()
    argv = ["uvicorn", "plain_app:app", "--workers", "2", "--port", str(port)]
    with serve(argv, cwd=appdir, env=server_env(bindir), port=port):
        assert_no_state(collect(port, 2))


def test_launcher_switched_off_by_env(appdir: Path) -> None:
    bindir = venv(UVICORN_OLD)
    port = free_port()
    argv = uvicorn_argv("launcher", ["--workers", "2", "--port", str(port)])
    env = server_env(bindir, LIFESPAN_STATE_DISABLE="1")
    with serve(argv, cwd=appdir, env=env, port=port):
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
            except (OSError, http.client.HTTPException):
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


@needs_hypercorn_shim
@pytest.mark.parametrize("way", [*WAYS, "launcher+factory"])
def test_hypercorn_0_16_workers(appdir: Path, way: str) -> None:
    bindir = venv(HYPERCORN_16)
    port = free_port()
    argv = hypercorn_argv(way, ["-w", "2", "-b", f"127.0.0.1:{port}"])
    with serve(argv, cwd=appdir, env=env_for(bindir, way), port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)
        assert "ActivationTooLateWarning" not in server.output()


def test_hypercorn_0_16_without_shim_has_no_state(appdir: Path) -> None:
    """Negative control: hypercorn 0.16 workers serve no state without a way in."""
    bindir = venv(HYPERCORN_16)
    port = free_port()
    argv = ["hypercorn", "-w", "2", "-b", f"127.0.0.1:{port}", "plain_app:app"]
    with serve(argv, cwd=appdir, env=server_env(bindir), port=port):
        assert_no_state(collect(port, 2))


@needs_hypercorn_shim
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
    code = (
        "from packaging.version import Version; from lifespan_state._versions import mode_for; "
        f"print(mode_for({server!r}, Version({version!r})).mode)"
    )
    return subprocess.run(
        [str(bindir / "python"), "-c", code], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


def test_newest_uvicorn_through_launcher_wraps_nothing(appdir: Path) -> None:
    bindir = venv(UVICORN_NEW)
    port = free_port()
    argv = uvicorn_argv("launcher", ["--workers", "2", "--port", str(port)])
    with serve(argv, cwd=appdir, env=server_env(bindir), port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)
        found = _mode(request(port, "/?status=1"), "uvicorn")
        assert found["mode"] == "native" and found["patched"] == [], found
        assert found["state_apps"] in (0, None), found  # no StateApp exists in the worker


@needs_hypercorn_shim
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
def test_debian_uvicorn_on_python_3_8(appdir: Path, way: str) -> None:
    bindir = venv(DEBIAN_UVICORN)
    port = free_port()
    argv = uvicorn_argv(way, ["--workers", "2", "--port", str(port)])
    with serve(argv, cwd=appdir, env=env_for(bindir, way), port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)


@pytest.mark.slow
@needs_hypercorn_shim
@pytest.mark.parametrize("way", [*WAYS, "launcher+factory"])
def test_debian_hypercorn_on_python_3_8(appdir: Path, way: str) -> None:
    bindir = venv(DEBIAN_HYPERCORN)
    port = free_port()
    argv = hypercorn_argv(way, ["-w", "2", "-b", f"127.0.0.1:{port}"])
    with serve(argv, cwd=appdir, env=env_for(bindir, way), port=port) as server:
        assert_per_process_state(collect(port, 2), 2, server.proc.pid)


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
@needs_hypercorn_shim
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

STARLETTE_APP = '''\
import os
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


@asynccontextmanager
async def lifespan(app):
    yield {"pid": os.getpid(), "hits": []}


async def home(request):
    request.state.hits.append(1)  # a shared value: shallow copies see it
    saw_other = hasattr(request.state, "mine")
    request.state.mine = True  # a key of this request only
    body = {"pid": os.getpid(), "state_pid": request.state.pid, "hits": len(request.state.hits)}
    return JSONResponse(dict(body, saw_other_request=saw_other))


app = Starlette(routes=[Route("/", home)], lifespan=lifespan)
'''

UVICORN_STARLETTE = EnvSpec("uvicorn", "0.17.6", extra=("starlette>=0.26",))
HYPERCORN_STARLETTE = EnvSpec("hypercorn", "0.16.0", extra=("starlette>=0.26",))

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
    if server == "hypercorn" and not HYPERCORN_SHIM.exists():
        pytest.skip("the hypercorn shim (lifespan_state/hypercorn.py) is not there yet")
    (tmp_path / "app.py").write_text(STARLETTE_APP)
    bindir = venv(UVICORN_STARLETTE if server == "uvicorn" else HYPERCORN_STARLETTE)
    port = free_port()
    argv = launch(way, [arg.format(port=port) for arg in DONE_WHEN[(server, way)]])
    env = server_env(bindir, LIFESPAN_STATE_APP="app:app")
    with serve(argv, cwd=tmp_path, env=env, port=port) as running:
        hits: Dict[int, List[int]] = {}
        for _ in range(300):
            view = request(port)
            assert view["state_pid"] == view["pid"] and view["saw_other_request"] is False, view
            hits.setdefault(view["pid"], []).append(view["hits"])
            if len(hits) >= 2 and sum(map(len, hits.values())) >= 12:
                break
        assert len(hits) >= 2 and running.proc.pid not in hits, hits
        for seen in hits.values():  # each worker counts its own requests: its own lifespan state
            assert seen == sorted(seen) and len(set(seen)) == len(seen), hits


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_starlette_refuses_to_start_without_a_way_in(tmp_path: Path, server: str) -> None:
    """Negative control of the test above: the same app on the bare server stops at startup."""
    (tmp_path / "app.py").write_text(STARLETTE_APP)
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
    (tmp_path / "app.py").write_text(STARLETTE_APP)
    bindir = venv(UVICORN_STARLETTE)
    port = free_port()
    argv = [str(bindir / "lifespan-state"), "run", "--", "python", "-m", "uvicorn", "app:app"]
    argv += ["--workers", "2", "--port", str(port)]
    with serve(argv, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, port=port) as running:
        hits: Dict[int, List[int]] = {}
        for _ in range(300):
            view = request(port)
            assert view["state_pid"] == view["pid"] and view["saw_other_request"] is False, view
            hits.setdefault(view["pid"], []).append(view["hits"])
            if len(hits) >= 2 and sum(map(len, hits.values())) >= 8:
                break
        assert len(hits) >= 2 and running.proc.pid not in hits, hits
    assert "lifespan-state" not in running.output(), running.output()  # no warning either
