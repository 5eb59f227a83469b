"""``lifespan_state.testing.lifespan_client`` and the ``asgi_client`` fixture, on asyncio and trio.

Real Starlette, FastAPI and raw ASGI apps, real httpx: two runs of three requests each, every
request holding exactly its run's objects; a request's write never reaching another; live copies;
shutdown seeing the state; failures carrying the app's message; the plugin importing nothing
until used.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict

import pytest

from script_support import SCRIPTS

sys.path.insert(0, str(SCRIPTS))

from harness_apps import APPS, Recorder, failing_starlette_app

from lifespan_state.testing import (
    LifespanShutdownError,
    LifespanStartupError,
    MissingStateError,
    lifespan_client,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("kind", sorted(APPS))
async def test_two_runs_each_request_sees_only_its_runs_objects(kind: str) -> None:
    recorder = Recorder()
    app = APPS[kind](recorder)
    for _ in range(2):
        async with lifespan_client(app) as client:
            for _ in range(3):
                response = await client.get("/")
                assert response.status_code == 200, response.text
    assert len(recorder.runs) == 2 and len(recorder.requests) == 6
    assert recorder.violations(per_run=3) == []
    # Each run stored new objects: the second run never sees the first one's.
    assert recorder.runs[0]["stored"]["pool"] is not recorder.runs[1]["stored"]["pool"]
    assert all("written" not in seen for seen in recorder.requests)


async def test_values_are_shared_shallow_copies() -> None:
    recorder = Recorder()
    async with lifespan_client(APPS["starlette"](recorder)) as client:
        hits = [(await client.get("/")).json()["hits"] for _ in range(3)]
    assert hits == [1, 2, 3]  # one list, appended to by every request (S4)


async def test_shutdown_sees_the_lifespans_own_keys() -> None:
    recorder = Recorder()
    async with lifespan_client(APPS["raw"](recorder)) as client:
        for _ in range(3):
            assert (await client.get("/")).text == "hits,pool,run0"
    # The lifespan's dict at shutdown: its own keys, none of the requests' writes (S10).
    assert recorder.shutdowns == [["hits", "pool", "run0"]]


async def test_live_key_added_by_the_lifespan_reaches_later_requests() -> None:
    seen = []

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            live = scope["state"]
            await receive()
            await send({"type": "lifespan.startup.complete"})
            live["ready"] = True  # after startup, as a background task would
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(sorted(scope["state"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with lifespan_client(app) as client:
        await client.get("/")
    assert seen == [["ready"]]


async def test_startup_failure_carries_the_apps_message() -> None:
    with pytest.raises(LifespanStartupError, match="RuntimeError: no database at startup"):
        async with lifespan_client(failing_starlette_app("startup")):
            pytest.fail("the block must not run when startup failed")


async def test_shutdown_failure_carries_the_apps_message() -> None:
    with pytest.raises(LifespanShutdownError, match="RuntimeError: no database at shutdown"):
        async with lifespan_client(failing_starlette_app("shutdown")) as client:
            assert (await client.get("/nothing")).status_code == 404


async def test_startup_raising_after_receive_is_an_error() -> None:
    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        raise ValueError("bad settings")

    with pytest.raises(LifespanStartupError, match="ValueError: bad settings"):
        async with lifespan_client(app):
            pass


async def test_a_startup_that_never_completes_times_out() -> None:
    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await receive()  # never answers

    with pytest.raises(LifespanStartupError, match=r"did not finish its startup within 0\.2 s"):
        async with lifespan_client(app, startup_timeout=0.2):
            pass


async def test_app_without_lifespan_is_served_with_empty_state() -> None:
    recorder = Recorder()
    async with lifespan_client(APPS["raw"](recorder, lifespan=False)) as client:
        assert (await client.get("/")).status_code == 200
    assert recorder.requests == [{}]


@pytest.mark.parametrize("kind", ["starlette", "fastapi"])
async def test_missing_key_names_the_key_and_what_was_stored(kind: str) -> None:
    async with lifespan_client(APPS[kind](Recorder())) as client:
        with pytest.raises(AttributeError) as caught:
            await client.get("/db")
    cause = caught.value.__context__
    assert isinstance(cause, MissingStateError), repr(cause)
    assert str(cause) == "lifespan state has no key 'db': the app's lifespan stored 'hits', 'pool', 'run0'"


async def test_missing_key_when_the_app_declined_the_lifespan() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def handler(request: Request) -> PlainTextResponse:
        return PlainTextResponse(repr(request.state.pool))

    inner = Starlette(routes=[Route("/", handler)])

    async def no_lifespan(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise NotImplementedError("no lifespan here")
        await inner(scope, receive, send)

    async with lifespan_client(no_lifespan) as client:
        with pytest.raises(AttributeError) as caught:
            await client.get("/")
    assert str(caught.value.__context__) == (
        "lifespan state has no key 'pool': the app did not run a lifespan (it raised "
        "NotImplementedError: no lifespan here on the lifespan scope), so requests get an empty state"
    )


# --- the pytest plugin ------------------------------------------------------------------------

PLUGIN_TESTS = '''
    import sys
    import pytest
    sys.path.insert(0, {scripts!r})
    from harness_apps import APPS, Recorder

    RECORDER = Recorder()

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(request):
        return request.param

    @pytest.fixture(params=sorted(APPS))
    def asgi_app(request):
        return APPS[request.param](RECORDER)

    @pytest.mark.anyio
    async def test_first(asgi_client):
        for _ in range(3):
            assert (await asgi_client.get("/")).status_code == 200

    @pytest.mark.anyio
    async def test_second(asgi_client):
        for _ in range(3):
            assert (await asgi_client.get("/")).status_code == 200

    def test_zz_every_request_saw_only_its_run():
        # 2 backends x 3 apps x 2 tests = 12 runs of 3 requests each, each run starting empty.
        assert len(RECORDER.runs) == 12, len(RECORDER.runs)
        assert RECORDER.violations(per_run=3) == []
'''


def run_pytest(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_it.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_fixture_runs_the_lifespan_per_test_on_both_backends(tmp_path: Path) -> None:
    scripts = str(SCRIPTS)
    out = run_pytest(tmp_path, PLUGIN_TESTS.format(scripts=scripts))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "13 passed" in out.stdout, out.stdout


def test_fixture_without_an_app_says_what_to_define(tmp_path: Path) -> None:
    source = """
        import pytest

        @pytest.mark.anyio
        async def test_it(asgi_client):
            pass
    """
    out = run_pytest(tmp_path, source)
    assert out.returncode != 0
    assert "define a fixture named `asgi_app`" in out.stdout, out.stdout


def _fresh(mode: str) -> subprocess.CompletedProcess[str]:
    """``tests/scripts/testing_imports.py MODE`` in a fresh interpreter."""
    script = SCRIPTS / "testing_imports.py"
    return subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=120)


def test_plugin_is_registered_and_imports_nothing_at_load() -> None:
    out = _fresh("plugin")
    assert out.returncode == 0, out.stderr


def test_the_module_imports_no_wrapt() -> None:
    out = _fresh("module")
    assert out.returncode == 0, out.stderr


def test_without_httpx_the_error_says_what_to_install() -> None:
    out = _fresh("no-httpx")
    assert out.returncode == 0, out.stderr
    assert "pip install 'lifespan-state-shim[testing]'" in out.stdout and "httpx" in out.stdout
