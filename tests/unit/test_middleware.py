"""``LifespanStateMiddleware``'s own logic, offline: driven here the way servers of each kind hand
out their dict (none, one shared, a copy per request), with a raw ASGI app that records what it
saw. What real servers do with it is tests/integration/test_middleware_copies.py and the kit's middleware arm.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

import pytest

from lifespan_state import LifespanStateMiddleware, MissingStateError
from lifespan_state._core import StateApp, owns_runs, put_in_front

pytestmark = pytest.mark.unit


class App:
    """Stores ``pool`` and ``items`` at startup; each request records its state and writes to it."""

    def __init__(self, *, lifespan: bool = True) -> None:
        self.lifespan = lifespan
        self.startups: List[Dict[str, Any]] = []
        self.shutdowns: List[List[str]] = []
        self.seen: List[Dict[str, Any]] = []

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            if not self.lifespan:
                raise RuntimeError("no lifespan here")
            state = scope["state"]
            assert (await receive())["type"] == "lifespan.startup"
            state.update(pool=object(), items=[], run=len(self.startups))
            self.startups.append(state)
            await send({"type": "lifespan.startup.complete"})
            assert (await receive())["type"] == "lifespan.shutdown"
            self.shutdowns.append(sorted(state))
            await send({"type": "lifespan.shutdown.complete"})
            return
        state = scope["state"]
        self.seen.append(dict(state))  # as it arrived, before this request wrote to it
        state["written"] = True


class Server:
    """A server run: ``kind`` says what its request scopes get of its own lifespan dict."""

    def __init__(self, app: Any, kind: str) -> None:
        self.app, self.kind = app, kind
        self.native: Optional[Dict[str, Any]] = None if kind == "none" else {}
        self._to_app: asyncio.Queue[Dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[Dict[str, Any]] = asyncio.Queue()

    async def start(self) -> None:
        scope: Dict[str, Any] = {"type": "lifespan"}
        if self.native is not None:
            scope["state"] = self.native
        self.task = asyncio.ensure_future(self.app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        await asyncio.wait([asyncio.ensure_future(self._from_app.get()), self.task],
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip

    async def request(self) -> Dict[str, Any]:
        scope: Dict[str, Any] = {"type": "http"}
        if self.kind == "shared":
            scope["state"] = self.native  # the server's dict itself (gunicorn 24-26)
        elif self.kind == "copies":
            assert self.native is not None
            scope["state"] = self.native.copy()
        await self.app(scope, None, None)
        state: Dict[str, Any] = scope["state"]
        return state

    async def stop(self) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._from_app.get()
        await self.task


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.mark.parametrize("kind", ["none", "shared", "copies"])
def test_each_request_gets_its_own_shallow_copy_of_its_runs_dict(kind: str) -> None:
    app = App()

    async def main() -> None:
        server = Server(LifespanStateMiddleware(app), kind)
        await server.start()
        first, second = await server.request(), await server.request()
        await server.stop()
        stored = app.startups[0]
        assert first is not stored and second is not first
        assert "written" not in app.seen[1] and "written" not in stored  # S3: nobody sees a write
        assert first["pool"] is stored["pool"] and first["items"] is stored["items"]  # shallow
        assert app.shutdowns == [["items", "pool", "run"]]  # S10: intact at shutdown
        if server.native is not None:
            assert "pool" not in server.native  # the server's own dict stays the server's

    run(main())


def test_two_servers_at_once_are_told_apart_by_the_marker() -> None:
    app = App()
    middleware = LifespanStateMiddleware(app)

    async def main() -> None:
        one, two = Server(middleware, "copies"), Server(middleware, "copies")
        await one.start()
        await two.start()
        first, second = await one.request(), await two.request()
        assert (first["run"], second["run"]) == (0, 1)
        assert first["pool"] is not second["pool"]
        await one.stop()
        await two.stop()

    run(main())


def test_without_a_server_dict_the_latest_run_wins() -> None:
    app = App()
    middleware = LifespanStateMiddleware(app)

    async def main() -> None:
        one = Server(middleware, "none")
        await one.start()
        await one.stop()
        two = Server(middleware, "none")
        await two.start()
        assert (await two.request())["run"] == 1  # a new run starts empty and is the one served
        await two.stop()

    run(main())


def test_after_the_run_a_request_gets_none_of_its_objects() -> None:
    app = App()

    async def main() -> Dict[str, Any]:
        server = Server(LifespanStateMiddleware(app), "copies")
        await server.start()
        await server.stop()
        return await server.request()

    state = run(main())
    assert dict(state) == {"written": True}
    with pytest.raises(MissingStateError, match="has ended"):
        state["pool"]


@pytest.mark.parametrize("lifespan", [False, True])
def test_no_lifespan_each_request_gets_an_empty_dict_of_its_own(lifespan: bool) -> None:
    # S8: the server runs no lifespan (lifespan=True: it would, the server just never starts it),
    # or the app raises on the lifespan scope.
    app = App(lifespan=lifespan)
    middleware = LifespanStateMiddleware(app)

    async def main() -> List[Dict[str, Any]]:
        server = Server(middleware, "none")
        if not lifespan:
            with pytest.raises(RuntimeError):
                await server.start()
                await server.task
        return [await server.request(), await server.request()]

    first, second = run(main())
    assert first is not second and app.seen == [{}, {}]
    with pytest.raises(MissingStateError, match="did not run a lifespan"):
        second["pool"]


def test_wrapped_twice_is_wrapped_once() -> None:
    app = App()
    once = LifespanStateMiddleware(app)
    assert LifespanStateMiddleware(once) is once and once.app is app


def test_the_shim_adds_nothing_in_front_of_it() -> None:
    class Holder:
        pass

    holder = Holder()
    holder.app = LifespanStateMiddleware(App())  # type: ignore[attr-defined]
    put_in_front(holder, "app", holder)
    assert isinstance(holder.app, LifespanStateMiddleware)  # type: ignore[attr-defined]
    assert owns_runs(holder.app) and not owns_runs(StateApp(App()))  # type: ignore[attr-defined]


def test_servers_detect_asgi3() -> None:
    # uvicorn and hypercorn decide "ASGI 3" by inspecting __call__.
    assert asyncio.iscoroutinefunction(LifespanStateMiddleware(App()).__call__)
