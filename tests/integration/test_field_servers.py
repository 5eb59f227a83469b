"""gunicorn's ASGI worker, anycorn and granian: real server processes, natively and with the shim.

Each server runs the Starlette app ``tests/scripts/field_app.py`` from its own command line
(``gunicorn -k asgi``, ``python -m anycorn``, ``granian --interface asgi``) in a per-release
environment. With ``FIELD_SHIM=1`` the app module does ``import lifespan_state.auto`` — inside the
server's own app loading, in every worker — the way users activate. Every bug the shim fixes is
also asserted natively (the negative controls): if a server stopped having it, that test fails
and the support table needs a new row.

Default run: one release per server and mode (gunicorn 26.2.0 and 27.0.1, anycorn 0.18.7, granian
2.8.9); the other releases are ``-m slow``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence

import pytest
from tools.envs import EnvError, EnvSpec, activated_env, ensure_env
from tools.matrix import needs_uvloop

from lifespan_state.check import HTTP1Connection, ServerProcess, WebSocket, free_port
from script_support import SCRIPTS

APP = "field_app:app"
HOST = "127.0.0.1"

pytestmark = pytest.mark.timeout(600)

#: What each release's environment needs besides the server (h2: HTTP/2 clients and servers).
EXTRAS: Dict[str, Sequence[str]] = {
    "gunicorn": ("starlette>=0.26", "h2"),
    "anycorn": ("starlette>=0.26", "h2"),
    "granian": ("starlette>=0.26",),
    "nonecorn": ("starlette>=0.26",),
}


def venv_for(server: str, version: str) -> Path:
    if server == "gunicorn" and sys.version_info < (3, 10):  # pragma: no cover - CI runs 3.11
        pytest.skip("gunicorn's ASGI worker needs Python >= 3.10")
    # granian 2.0 - 2.7 on asyncio's loop deadlock at about every other stop, before
    # lifespan.shutdown (granian's limit in its descriptor): they run on uvloop, like the matrix.
    extra = (*EXTRAS[server], *(("uvloop",) if needs_uvloop(server, version) else ()))
    try:
        return ensure_env(EnvSpec(server, version, extra=extra))
    except EnvError as exc:  # pragma: no cover - depends on the index
        pytest.fail(f"cannot build the {server} {version} environment: {exc}")


def command(server: str, bindir: Path, port: int, workers: int, extra: Sequence[str] = ()) -> List[str]:
    """The server's own command line, as its users type it."""
    if server == "gunicorn":
        return [str(bindir / "gunicorn"), "-k", "asgi", "-w", str(workers), "-b", f"{HOST}:{port}",
                *extra, APP]  # fmt: skip
    if server == "granian":
        return [str(bindir / "granian"), "--interface", "asgi", "--host", HOST, "--port", str(port),
                "--workers", str(workers), *extra, APP]  # fmt: skip
    if server == "nonecorn":  # installs the import package hypercorn
        return [str(bindir / "python"), "-m", "hypercorn", "--bind", f"{HOST}:{port}",
                "--workers", str(workers), *extra, APP]  # fmt: skip
    return [str(bindir / "python"), "-m", "anycorn", "--bind", f"{HOST}:{port}",
            "--workers", str(workers), *extra, APP]  # fmt: skip


class Served:
    """A running server, its port and the lifespan's report file (one JSON line per event)."""

    def __init__(self, process: ServerProcess, report: Path, bindir: Path) -> None:
        self.process = process
        self.port = process.port
        self.report = report
        self.bindir = bindir

    def connection(self) -> HTTP1Connection:
        return HTTP1Connection(HOST, self.port)

    def get(self, target: str) -> Dict[str, Any]:
        """One request on a fresh connection."""
        with self.connection() as connection:
            response = connection.get(target)
            assert response.status == 200, (target, response.status, self.process.tail())
            return dict(response.json())

    def records(self) -> List[Dict[str, Any]]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines() if line.strip()]

    def wait_for_startups(self, count: int, timeout: float = 60.0) -> None:
        """Until ``count`` lifespans started (workers come up one after another)."""
        deadline = time.monotonic() + timeout
        while sum(r["event"] == "startup" for r in self.records()) < count:
            assert time.monotonic() < deadline, (self.records(), self.process.tail())
            time.sleep(0.1)

    def graceful_stop(self) -> List[Dict[str, Any]]:
        """Stop the way that runs lifespan.shutdown: SIGTERM for gunicorn (its SIGINT skips the
        lifespan shutdown), SIGINT for the others (ServerProcess.stop); then the records."""
        process = self.process.process
        if process is not None and "gunicorn" in self.process.argv[0]:
            process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        self.process.stop()
        return self.records()


@contextmanager
def serving(
    server: str, version: str, tmp_path: Path, *, shim: bool, workers: int = 1, extra: Sequence[str] = (),
    middleware: bool = False,
) -> Iterator[Served]:
    """The server serving ``field_app:app``: with the shim activated, natively, or (``middleware``)
    the app wrapped by ``LifespanStateMiddleware`` with nothing activated."""
    venv = venv_for(server, version)
    bindir = venv / "bin"
    port = free_port()
    home = tmp_path / f"home-{port}"
    home.mkdir()
    report = tmp_path / f"report-{port}.jsonl"
    env = activated_env(
        bindir,
        PYTHONPATH=str(SCRIPTS),
        FIELD_SHIM="middleware" if middleware else "1" if shim else "0",
        FIELD_SERVER="hypercorn" if server == "nonecorn" else server,
        FIELD_REPORT=str(report),
        # gunicorn >= 26 opens a control socket under $HOME: one per test, never the user's.
        HOME=str(home),
    )
    process = ServerProcess(command(server, bindir, port, workers, extra), port=port, env=env,
                            start_timeout=60, cwd=str(tmp_path))  # fmt: skip
    with process:
        yield Served(process, report, bindir)


def keep_alive_and_fresh(served: Served) -> Dict[str, Dict[str, Any]]:
    """A write and a read on one keep-alive connection, then a read on a fresh connection."""
    with served.connection() as connection:
        wrote = connection.get("/write?key=leak").json()
        same_connection = connection.get("/").json()
    return {"wrote": wrote, "keep_alive": same_connection, "fresh": served.get("/")}


def assert_isolated(views: Dict[str, Dict[str, Any]]) -> None:
    assert views["wrote"]["keys"] == ["leak", "pool"]
    for name in ("keep_alive", "fresh"):
        view = views[name]
        assert view["keys"] == ["pool"], (name, view)
    for view in views.values():
        assert view["own_pool"], view  # the lifespan's very object, not a copy
        assert not view["is_lifespan_dict"], view


def live_copy(served: Served) -> Dict[str, Any]:
    """The lifespan's dict gains a key after startup: a later request must see it."""
    served.get("/late")
    return served.get("/")


def assert_isolated_and_live(served: Served) -> None:
    """Requests isolated on one keep-alive connection and across connections, and a request after
    the lifespan's dict gained a key sees it."""
    assert_isolated(keep_alive_and_fresh(served))
    late = live_copy(served)
    assert late["keys"] == ["late", "pool"], late


def websocket_then_http(served: Served) -> Dict[str, Any]:
    with WebSocket(HTTP1Connection(HOST, served.port), "/ws") as ws:
        first = ws.receive_json()
        ws.send_text("write wskey")
        written = ws.receive_json()
    assert first["own_pool"] and "wskey" in written["keys"], (first, written)
    return served.get("/")


def http2_streams(served: Served) -> Dict[str, Any]:
    """Two streams of one HTTP/2 connection, driven with the server environment's h2."""
    proc = subprocess.run(
        [str(served.bindir / "python"), str(SCRIPTS / "field_h2.py"), str(served.port)],
        capture_output=True, text=True, timeout=60, env=activated_env(served.bindir),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:] + served.process.tail()
    return dict(json.loads(proc.stdout))


def worker_pids(served: Served, wanted: int, attempts: int = 60) -> Dict[int, Dict[str, Any]]:
    """pid -> /status view, over fresh connections until ``wanted`` workers answered."""
    seen: Dict[int, Dict[str, Any]] = {}
    for _ in range(attempts):
        view = served.get("/status")
        seen.setdefault(view["pid"], view)
        if len(seen) >= wanted:
            break
    return seen


# --------------------------------------------------------------------------- gunicorn -k asgi


GUNICORN_H2 = ("--http-protocols", "h2,h1", "--http2-cleartext", "both")


def test_gunicorn_26_native_requests_share_the_lifespan_dict(tmp_path: Path) -> None:
    """Negative control: gunicorn 26.2.0's ASGI worker leaks across requests and connections."""
    with serving("gunicorn", "26.2.0", tmp_path, shim=False, extra=GUNICORN_H2) as served:
        views = keep_alive_and_fresh(served)
        after_ws = websocket_then_http(served)
        h2 = http2_streams(served)
    assert "leak" in views["keep_alive"]["keys"] and "leak" in views["fresh"]["keys"], views
    assert views["fresh"]["is_lifespan_dict"], views
    assert "wskey" in after_ws["keys"], after_ws
    assert "h2" in h2["second"]["keys"], h2
    with pytest.raises(AssertionError):
        assert_isolated(views)


@pytest.mark.parametrize("way", ["shim", "middleware"])
def test_gunicorn_26_shim_or_middleware_isolates_every_request(way: str, tmp_path: Path) -> None:
    """With the shim, or with only ``app = LifespanStateMiddleware(app)`` (nothing activated,
    nothing patched): the negative control above is the same app with neither."""
    middleware = way == "middleware"
    with serving("gunicorn", "26.2.0", tmp_path, shim=not middleware, middleware=middleware,
                 extra=GUNICORN_H2) as served:  # fmt: skip
        assert_isolated_and_live(served)
        after_ws = websocket_then_http(served)
        h2 = http2_streams(served)
        status = served.get("/status")["shim"]
        records = served.graceful_stop()
    assert after_ws["keys"] == ["late", "pool"], after_ws
    assert h2["first"]["keys"] == ["h2", "late", "pool"] and h2["second"]["keys"] == ["late", "pool"], h2
    if middleware:
        assert status["patched"] == [] and status["mode"] is None, status
    else:
        assert status["mode"] == "fix" and status["patched"] == ["gunicorn.workers.gasgi.ASGIWorker.run"]
    # S9/S10: the run started empty and its shutdown saw the lifespan's keys.
    assert [r["keys"] for r in records if r["event"] == "startup"] == [[]], records
    assert [r["keys"] for r in records if r["event"] == "shutdown"] == [["late", "pool"]], records


def two_shimmed_workers(server: str, version: str, tmp_path: Path, rounds: int) -> List[Dict[str, Any]]:
    """Two workers with the shim, ``rounds`` rounds of isolated requests, a graceful stop: the
    app's records (two distinct worker pids started)."""
    with serving(server, version, tmp_path, shim=True, workers=2) as served:
        served.wait_for_startups(2)
        for _ in range(rounds):
            assert_isolated(keep_alive_and_fresh(served))
        records = served.graceful_stop()
    assert len({r["pid"] for r in records if r["event"] == "startup"}) == 2, records
    return records


def test_gunicorn_26_shim_activates_every_worker(tmp_path: Path) -> None:
    """``gunicorn -k asgi -w 2 field_app:app``: both forked workers patched, both isolated."""
    records = two_shimmed_workers("gunicorn", "26.2.0", tmp_path, rounds=6)
    startups = [r for r in records if r["event"] == "startup"]
    for record in startups:
        assert record["keys"] == [] and record["shim"]["patched"] == ["gunicorn.workers.gasgi.ASGIWorker.run"]
    assert sorted(r["keys"] for r in records if r["event"] == "shutdown") == [["pool"], ["pool"]], records


def test_gunicorn_27_is_native_nothing_patched(tmp_path: Path) -> None:
    with serving("gunicorn", "27.0.1", tmp_path, shim=True, extra=GUNICORN_H2) as served:
        assert_isolated_and_live(served)
        h2 = http2_streams(served)
        status = served.get("/status")["shim"]
    assert status["mode"] == "native" and status["patched"] == [], status
    assert h2["second"]["keys"] == ["late", "pool"], h2


@pytest.mark.slow
@pytest.mark.parametrize("version", ["24.0.0"])
def test_gunicorn_24(version: str, tmp_path: Path) -> None:
    with serving("gunicorn", version, tmp_path, shim=False) as served:
        native = keep_alive_and_fresh(served)
    assert "leak" in native["fresh"]["keys"], native
    with serving("gunicorn", version, tmp_path, shim=True) as served:
        assert_isolated(keep_alive_and_fresh(served))
        assert websocket_then_http(served)["keys"] == ["pool"]
        assert served.get("/status")["shim"]["mode"] == "fix"


# --------------------------------------------------------------------------- anycorn


def test_anycorn_0_18_native_keep_alive_requests_share_a_copy(tmp_path: Path) -> None:
    """Negative control: anycorn 0.18.7 copies once per connection."""
    with serving("anycorn", "0.18.7", tmp_path, shim=False) as served:
        views = keep_alive_and_fresh(served)
        h2 = http2_streams(served)
    assert "leak" in views["keep_alive"]["keys"], views
    assert views["fresh"]["keys"] == ["pool"], views
    assert "h2" in h2["second"]["keys"], h2


def test_anycorn_0_18_shim_isolates_keep_alive_requests(tmp_path: Path) -> None:
    with serving("anycorn", "0.18.7", tmp_path, shim=True) as served:
        assert_isolated_and_live(served)
        h2 = http2_streams(served)
        after_ws = websocket_then_http(served)
        status = served.get("/status")["shim"]
    assert h2["first"]["keys"] == ["h2", "late", "pool"] and h2["second"]["keys"] == ["late", "pool"], h2
    assert after_ws["keys"] == ["late", "pool"], after_ws
    assert status["mode"] == "fix" and "anycorn.run.worker_serve" in status["patched"], status


def test_anycorn_shim_activates_every_worker(tmp_path: Path) -> None:
    """``python -m anycorn --workers 2``: both spawned workers patched, S9 and S10 in each."""
    records = two_shimmed_workers("anycorn", "0.18.7", tmp_path, rounds=4)
    startups = [r for r in records if r["event"] == "startup"]
    assert all(r["keys"] == [] and "anycorn.run.worker_serve" in r["shim"]["patched"] for r in startups)
    # anycorn's parent sometimes stops a spawned worker before its lifespan.shutdown runs (natively
    # too): every shutdown that ran saw the keys.
    shutdowns = [r["keys"] for r in records if r["event"] == "shutdown"]
    assert shutdowns and all(keys == ["pool"] for keys in shutdowns), records


@pytest.mark.slow
@pytest.mark.parametrize("version", ["0.19.3", "0.20.1"])
def test_anycorn_snapshot_releases(version: str, tmp_path: Path) -> None:
    """0.19/0.20 copy per request, but a startup snapshot: keys added later never arrive."""
    with serving("anycorn", version, tmp_path, shim=False) as served:
        assert live_copy(served)["keys"] == ["pool"]  # negative control: "late" is missing
    with serving("anycorn", version, tmp_path, shim=True) as served:
        assert_isolated(keep_alive_and_fresh(served))
        assert live_copy(served)["keys"] == ["late", "pool"]


@pytest.mark.slow
def test_anycorn_0_17_2_gets_state_added(tmp_path: Path) -> None:
    with serving("anycorn", "0.17.2", tmp_path, shim=False) as served:
        served.process.stop()
        # Starlette refuses a lifespan that yields state on a server without lifespan state.
        assert "state" in served.process.output and served.records() == [], served.process.tail()
    with serving("anycorn", "0.17.2", tmp_path, shim=True) as served:
        assert_isolated(keep_alive_and_fresh(served))
        assert served.get("/status")["shim"]["mode"] == "add"


# --------------------------------------------------------------------------- granian


GRANIAN_WRAP = "granian.asgi.LifespanProtocol.shutdown"


def _shutdowns(records: List[Dict[str, Any]]) -> List[List[str]]:
    return [r["keys"] for r in records if r["event"] == "shutdown"]


def test_granian_native_shutdown_sees_an_empty_dict(tmp_path: Path) -> None:
    """Negative control: granian empties the state before lifespan.shutdown (S10)."""
    with serving("granian", "2.8.9", tmp_path, shim=False) as served:
        assert_isolated(keep_alive_and_fresh(served))  # requests are right natively
        records = served.graceful_stop()
    assert _shutdowns(records) == [[]], records


def test_granian_shim_shutdown_sees_its_keys(tmp_path: Path) -> None:
    """``granian --interface asgi --workers 2``: both workers patched, each shutdown sees its keys."""
    with serving("granian", "2.8.9", tmp_path, shim=True, workers=2) as served:
        served.wait_for_startups(2)
        served.get("/")
        records = served.graceful_stop()
    startups = [r for r in records if r["event"] == "startup"]
    assert len({r["pid"] for r in startups}) == 2, records
    for record in startups:
        assert record["keys"] == [] and record["shim"]["patched"] == [GRANIAN_WRAP]
    assert _shutdowns(records) == [["pool"], ["pool"]], records


def test_granian_middleware_alone_shutdown_sees_its_keys(tmp_path: Path) -> None:
    """Only ``app = LifespanStateMiddleware(app)`` (the negative control above is the same app
    without it): granian empties its own dict, the app's stays whole; nothing patched."""
    with serving("granian", "2.8.9", tmp_path, shim=False, middleware=True) as served:
        assert_isolated_and_live(served)
        status = served.get("/status")["shim"]
        records = served.graceful_stop()
    assert status["patched"] == [] and status["mode"] is None, status
    assert _shutdowns(records) == [["late", "pool"]], records


def test_granian_shim_keeps_granians_per_request_copies(tmp_path: Path) -> None:
    with serving("granian", "2.8.9", tmp_path, shim=True) as served:
        assert_isolated_and_live(served)
        after_ws = websocket_then_http(served)
        status = served.get("/status")["shim"]
    assert after_ws["keys"] == ["late", "pool"], after_ws
    assert status["mode"] == "fix", status


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.0.2", "1.7.6", "2.0.0", "2.7.9"])
def test_granian_releases(version: str, tmp_path: Path) -> None:
    """The first release with state, the last 1.x, and the first and last 2.x before 2.8 (these
    two on uvloop: ``venv_for``): the empty dict natively, the keys with the shim."""
    with serving("granian", version, tmp_path, shim=False) as served:
        served.get("/")
        assert _shutdowns(served.graceful_stop()) == [[]]
    with serving("granian", version, tmp_path, shim=True) as served:
        assert_isolated(keep_alive_and_fresh(served))
        assert _shutdowns(served.graceful_stop()) == [["pool"]]


# --------------------------------------------------------------------------- nonecorn


def test_nonecorn_is_decided_by_probes_and_says_so(tmp_path: Path) -> None:
    """nonecorn 0.18.0 installs hypercorn 0.18.0's code with no ``hypercorn`` distribution."""
    with serving("nonecorn", "0.18.0", tmp_path, shim=True) as served:
        views = keep_alive_and_fresh(served)
        status = served.get("/status")["shim"]
        served.process.stop()
        records = served.records()
    assert_isolated(views)
    assert status["installed"] is None and status["mode"] == "fix", status
    assert "installed by nonecorn 0.18.0" in status["reason"], status
    assert [r["keys"] for r in records if r["event"] == "shutdown"] == [["pool"]], records


# --------------------------------------------------------------------------- launcher and factory


@pytest.mark.parametrize(
    ("server", "version"), [("gunicorn", "26.2.0"), ("anycorn", "0.18.7"), ("granian", "2.8.9")]
)
def test_launcher_and_factory_activate_every_worker(server: str, version: str, tmp_path: Path) -> None:
    """``lifespan-state run -- <server's own command, 2 workers>`` and the factory, app unchanged."""
    venv = venv_for(server, version)
    bindir = venv / "bin"
    for way in ("launcher", "factory"):
        port = free_port()
        home = tmp_path / f"home-{way}"
        home.mkdir()
        report = tmp_path / f"report-{way}.jsonl"
        app = APP if way == "launcher" else "lifespan_state.factory:create_app()"
        argv = [a if a != APP else app for a in command(server, bindir, port, 2)]
        if server == "granian" and way == "factory":
            argv = [*argv[:-1], "--factory", "lifespan_state.factory:create_app"]
        if way == "launcher":
            argv = [str(bindir / "lifespan-state"), "run", "--", *argv]
        env = activated_env(bindir, PYTHONPATH=str(SCRIPTS), FIELD_SHIM="0", FIELD_SERVER=server,
                            FIELD_REPORT=str(report), HOME=str(home), LIFESPAN_STATE_APP=APP)  # fmt: skip
        with ServerProcess(argv, port=port, env=env, start_timeout=60, cwd=str(tmp_path)) as process:
            served = Served(process, report, bindir)
            served.wait_for_startups(2)
            for _ in range(3):
                assert_isolated(keep_alive_and_fresh(served))
            served.graceful_stop()
        startups = [r for r in served.records() if r["event"] == "startup"]
        assert len({r["pid"] for r in startups}) == 2, (way, startups)
        assert all(r["shim"] and r["shim"]["patched"] for r in startups), (way, startups, process.tail())
        # Each shutdown that ran saw the lifespan's keys (anycorn's parent may stop a spawned
        # worker before its lifespan.shutdown; the per-server tests count them).
        shutdowns = [r["keys"] for r in served.records() if r["event"] == "shutdown"]
        assert shutdowns and all(keys == ["pool"] for keys in shutdowns), (way, shutdowns)
