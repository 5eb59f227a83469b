"""Probe apps for the test-harness suites: a Starlette, a FastAPI and a raw ASGI app.

Each app's lifespan stores fresh objects (``pool``, ``hits``) and records them as one *run*; each
request records the state it was handed and then writes a key of its own (``written``), which no
other request and no later run may ever see. Tests (in-process) and scripts (in per-release
environments) compare what requests saw with what their run stored, by identity.
"""

# No `from __future__ import annotations`: FastAPI resolves the handlers' annotations at runtime.
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Dict, List


class Pool:
    """A stand-in for a connection pool: compared by identity; ``name`` says which run made it."""

    made = 0

    def __init__(self) -> None:
        self.name = f"pool of run {Pool.made}"
        Pool.made += 1


class Recorder:
    """What one app observed: the lifespan runs, the requests, the shutdowns.

    Run ``n`` stores ``pool`` (a new object), ``hits`` (a new list every request appends to) and
    ``run<n>``.
    """

    def __init__(self) -> None:
        #: One dict per lifespan run: the objects it stored (and the keys it found at startup).
        self.runs: List[Dict[str, Any]] = []
        #: Per request, the state it was handed (a snapshot, taken before it wrote anything).
        self.requests: List[Dict[str, Any]] = []
        #: Per run, the keys the lifespan found in its dict at shutdown (raw app only).
        self.shutdowns: List[List[str]] = []

    def start_run(self, found: Dict[str, Any]) -> Dict[str, Any]:
        # A key named after the run: a run that starts with an earlier run's keys shows it.
        stored = {"pool": Pool(), "hits": [], f"run{len(self.runs)}": len(self.runs)}
        self.runs.append({"found": sorted(found), "stored": stored})
        return stored

    def saw(self, state: Any) -> None:
        self.requests.append(dict(state))
        state["written"] = len(self.requests)

    def violations(self, per_run: int) -> List[str]:
        """Every request must hold exactly its run's objects (requests made ``per_run`` a run)."""
        problems = []
        for index, seen in enumerate(self.requests):
            run = self.runs[index // per_run]
            if run["found"]:
                problems.append(f"run {index // per_run} started with {run['found']}")
            stored = run["stored"]
            if sorted(seen) != sorted(stored):
                problems.append(f"request {index}: keys {sorted(seen)}, the lifespan stored {sorted(stored)}")
            elif any(seen[key] is not value for key, value in stored.items()):
                problems.append(f"request {index}: not the lifespan's own objects")
        return problems


def starlette_app(recorder: Recorder) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Dict[str, Any]]:
        yield recorder.start_run({})

    async def probe(request: Request) -> JSONResponse:
        recorder.saw(request.state._state)
        request.state.hits.append(1)
        return JSONResponse({"keys": sorted(recorder.requests[-1]), "hits": len(request.state.hits)})

    async def needs_db(request: Request) -> JSONResponse:
        return JSONResponse({"db": repr(request.state.db)})

    async def uses_pool(request: Request) -> JSONResponse:
        # After the run: natively the ended run's pool (the leak), with the shim a clear error.
        return JSONResponse({"pool": request.state.pool.name})

    routes = [Route("/", probe), Route("/db", needs_db), Route("/pool", uses_pool)]
    return Starlette(lifespan=lifespan, routes=routes)


def fastapi_app(recorder: Recorder) -> Any:
    from fastapi import Depends, FastAPI, Request

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Dict[str, Any]]:
        yield recorder.start_run({})

    app = FastAPI(lifespan=lifespan)

    def pool(request: Request) -> Pool:
        return request.state.pool  # type: ignore[no-any-return]

    uses_pool = Depends(pool)  # a dependency reading the state, as FastAPI apps do

    @app.get("/")
    async def probe(request: Request, pool: Pool = uses_pool) -> Dict[str, Any]:
        recorder.saw(request.state._state)
        request.state.hits.append(1)
        return {"keys": sorted(recorder.requests[-1]), "hits": len(request.state.hits)}

    @app.get("/db")
    async def needs_db(request: Request) -> Dict[str, str]:
        return {"db": repr(request.state.db)}

    @app.get("/pool")
    async def reads_pool(pool: Pool = uses_pool) -> Dict[str, str]:
        return {"pool": pool.name}

    return app


def raw_app(recorder: Recorder, *, lifespan: bool = True) -> Callable[..., Any]:
    """A plain ASGI 3 app. ``lifespan=False``: it refuses the lifespan scope, as many raw apps do."""

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            assert lifespan, "this app has no lifespan"
            state = scope["state"]
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state.update(recorder.start_run(state))
                    await send({"type": "lifespan.startup.complete"})
                else:
                    recorder.shutdowns.append(sorted(state))
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        state = scope.get("state")
        recorder.saw(state if state is not None else {})
        body = b",".join(key.encode() for key in sorted(recorder.requests[-1]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def failing_starlette_app(where: str) -> Any:
    """A Starlette app whose lifespan raises ``RuntimeError('no database at ...')`` at ``where``."""
    from starlette.applications import Starlette

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Dict[str, Any]]:
        if where == "startup":
            raise RuntimeError("no database at startup")
        yield {}
        raise RuntimeError("no database at shutdown")

    return Starlette(lifespan=lifespan)


APPS = {"starlette": starlette_app, "fastapi": fastapi_app, "raw": raw_app}
