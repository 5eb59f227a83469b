"""Two lifespan runs of three requests each through a real test harness, with or without the shim.

Usage: python harness_runs.py HARNESS APP ACTIVATION

* HARNESS: ``asgi-lifespan`` (``LifespanManager`` + ``httpx.AsyncClient(ASGITransport(m.app))``,
  a new manager per run), ``testclient`` (one Starlette ``TestClient`` used for two ``with``
  blocks), ``async-asgi-testclient`` (a new client per ``async with`` block), ``litestar`` /
  ``litestar-async`` (Litestar's ``TestClient`` / ``AsyncTestClient`` driving the app, one client
  for two blocks). After the two runs, the last client is used once more (``after``: S13).
* APP: ``starlette`` or ``fastapi`` (tests/scripts/harness_apps.py).
* ACTIVATION: ``none`` (the harness alone), ``auto-first`` (``import lifespan_state.auto`` before
  the harness is imported, as a conftest.py does), ``activate-after`` (``activate()`` once the
  harness is imported) or ``activate-deactivate`` (``activate()`` then ``deactivate()``: the
  harness must be exactly what it is alone) or ``middleware`` (no activation: the app wrapped by
  ``LifespanStateMiddleware``, outermost, as a user on a runtime without an integration does it).

Prints one JSON line: what every request saw against what its run stored (``violations``), the
keys each run's requests saw, the error (if any) of a request made without running the lifespan,
and ``lifespan_state.status()`` for the harness.
"""

import importlib
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).parent))

from harness_apps import APPS, Recorder

REQUESTS = 3


def activate(activation: str, when: str) -> None:
    if activation == "auto-first" and when == "before":
        importlib.import_module("lifespan_state.auto")
    elif activation in ("activate-after", "activate-deactivate") and when == "after":
        import lifespan_state

        lifespan_state.activate()
        if activation == "activate-deactivate":
            lifespan_state.deactivate()


def imported(activation: str, module: str, attribute: str) -> Any:
    """The harness class ``module.attribute``, imported between the run's two activation points."""
    activate(activation, "before")
    found = getattr(importlib.import_module(module), attribute)
    activate(activation, "after")
    return found


def run_asgi_lifespan(app: Any, activation: str) -> Dict[str, Any]:
    import anyio
    import httpx

    LifespanManager = imported(activation, "asgi_lifespan", "LifespanManager")
    forgot: List[str] = []
    after: List[str] = []

    async def main() -> None:
        for _ in range(2):
            manager = LifespanManager(app)
            async with manager:
                transport = httpx.ASGITransport(app=manager.app)  # type: ignore[arg-type]
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    for _ in range(REQUESTS):
                        response = await client.get("/")
                        assert response.status_code == 200, response.text
        # A test that goes on using `manager.app` after the manager's block: the run has ended.
        transport = httpx.ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            after.append(await _after_the_run(client.get))
        # A test that forgot `async with manager`: the request is made, the lifespan never ran.
        transport = httpx.ASGITransport(app=LifespanManager(app).app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            try:
                await client.get("/db")
            except Exception as exc:
                forgot.append(explain(exc))

    anyio.run(main)
    return {"forgot": forgot, "after": after}


def run_testclient(app: Any, activation: str) -> Dict[str, Any]:
    TestClient = imported(activation, "starlette.testclient", "TestClient")
    forgot: List[str] = []
    client = TestClient(app)
    # A test that forgot `with`: no lifespan runs.
    try:
        client.get("/db")
    except Exception as exc:
        forgot.append(explain(exc))
    return {"forgot": forgot, "after": _two_runs_then_after(client)}


def _two_runs_then_after(client: Any) -> List[str]:
    """Two ``with`` blocks of one synchronous test client, then the same client used again after
    its last block (the run has ended): what that request got."""
    for _ in range(2):
        with client:
            for _ in range(REQUESTS):
                response = client.get("/")
                assert response.status_code == 200, response.text

    async def get(target: str) -> Any:
        return client.get(target)

    import anyio

    return [anyio.run(_after_the_run, get)]


async def _after_the_run(get: Any) -> str:
    """A request reading the pool after the lifespan run ended: what it got."""
    try:
        response = await get("/pool")
    except Exception as exc:
        return explain(exc)
    return f"{response.status_code}: {response.text}"


def run_async_asgi_testclient(app: Any, activation: str) -> Dict[str, Any]:
    import asyncio

    TestClient = imported(activation, "async_asgi_testclient", "TestClient")
    forgot: List[str] = []
    after: List[str] = []

    async def main() -> None:
        client = TestClient(app)
        try:  # a test that forgot `async with`: no lifespan runs
            await client.get("/db")
        except Exception as exc:
            forgot.append(explain(exc))
        for _ in range(2):
            # A new client per run: one client's second `async with` reads the first run's exit
            # message from its lifespan queue (async-asgi-testclient's own limit).
            client = TestClient(app)
            async with client:
                for _ in range(REQUESTS):
                    response = await client.get("/")
                    assert response.status_code == 200, response.text
        after.append(await _after_the_run(client.get))

    asyncio.run(main())
    return {"forgot": forgot, "after": after}


def run_litestar(app: Any, activation: str) -> Dict[str, Any]:
    TestClient = imported(activation, "litestar.testing", "TestClient")
    return {"forgot": [], "after": _two_runs_then_after(TestClient(app))}


def run_litestar_async(app: Any, activation: str) -> Dict[str, Any]:
    import anyio

    AsyncTestClient = imported(activation, "litestar.testing", "AsyncTestClient")
    after: List[str] = []

    async def main() -> None:
        client = AsyncTestClient(app)
        for _ in range(2):
            async with client:
                for _ in range(REQUESTS):
                    response = await client.get("/")
                    assert response.status_code == 200, response.text
        after.append(await _after_the_run(client.get))

    anyio.run(main)
    return {"forgot": [], "after": after}


#: HARNESS -> (runner, the distribution whose status() row it reports).
RUNNERS = {
    "asgi-lifespan": (run_asgi_lifespan, "asgi-lifespan"),
    "testclient": (run_testclient, "starlette"),
    "async-asgi-testclient": (run_async_asgi_testclient, "async-asgi-testclient"),
    "litestar": (run_litestar, "litestar"),
    "litestar-async": (run_litestar_async, "litestar"),
}


def explain(exc: BaseException) -> str:
    """The first message of the chain: ours (a KeyError) when the shim explains, else Starlette's."""
    while exc.__context__ is not None:
        exc = exc.__context__
    return f"{type(exc).__name__}: {exc}"


def main() -> None:
    harness, kind, activation = sys.argv[1:4]
    recorder = Recorder()
    app = APPS[kind](recorder)
    if activation == "middleware":
        from lifespan_state import LifespanStateMiddleware

        app = LifespanStateMiddleware(app)
    runner, distribution = RUNNERS[harness]
    result = runner(app, activation)
    import lifespan_state

    info = lifespan_state.status().get(distribution)
    result.update(
        violations=recorder.violations(per_run=REQUESTS),
        seen=[sorted(seen) for seen in recorder.requests],
        runs=len(recorder.runs),
        status=info.as_dict() if info is not None else None,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
