"""Unit tests of the state semantics in ``_core`` (the servers are exercised by the check kit)."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

from lifespan_state._core import StateApp, state_app_of, unwrap_state_app


class Recorder:
    """A stand-in ASGI app that records the scopes it is handed (a helper, not a server)."""

    def __init__(self) -> None:
        self.scopes: List[Dict[str, Any]] = []
        self.extra: List[Any] = []

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any, *extra: Any) -> None:
        self.scopes.append(scope)
        self.extra.append(extra)


def call(app: StateApp, scope: Dict[str, Any], *extra: Any) -> Dict[str, Any]:
    asyncio.run(app(scope, None, None, *extra))  # type: ignore[arg-type]
    return scope


def test_lifespan_gets_the_run_dict_and_requests_a_live_shallow_copy() -> None:
    inner = Recorder()
    app = StateApp(inner)
    lifespan = call(app, {"type": "lifespan"})
    assert lifespan["state"] == {} and lifespan["state"] is app.state
    pool: List[int] = []
    lifespan["state"]["pool"] = pool
    first = call(app, {"type": "http"})["state"]
    assert first == {"pool": pool} and first["pool"] is pool
    assert first is not app.state
    first["mine"] = 1
    first["pool"].append(1)  # S4: values are shared
    lifespan["state"]["late"] = 2  # S7: added after startup
    second = call(app, {"type": "websocket"})["state"]
    assert set(second) == {"pool", "late"} and second["pool"] == [1]
    assert "mine" not in app.state


def test_native_request_state_is_replaced_and_native_lifespan_dict_adopted() -> None:
    app = StateApp(Recorder())
    native: Dict[str, Any] = {}
    call(app, {"type": "lifespan", "state": native})
    assert app.state is native
    native["db"] = object()
    shared: Dict[str, Any] = {"db": native["db"], "leaked": True}
    request = call(app, {"type": "http", "state": shared})["state"]
    assert request is not shared and "leaked" not in request and request["db"] is native["db"]


def test_other_scope_types_untouched_and_extra_args_passed_through() -> None:
    inner = Recorder()
    app = StateApp(inner)
    scope = call(app, {"type": "custom"}, "sync_spawn", "call_soon")
    assert "state" not in scope
    assert inner.extra == [("sync_spawn", "call_soon")]


def test_each_stateapp_is_its_own_run() -> None:
    inner = Recorder()
    first, second = StateApp(inner), StateApp(inner)
    call(first, {"type": "lifespan"})["state"]["k"] = 1
    assert call(second, {"type": "http"})["state"] == {}
    assert unwrap_state_app(StateApp(first)) is inner


def test_every_call_shape_is_passed_through_exactly() -> None:
    # ASGI 2 (hypercorn < 0.14 calls ``app(scope)``), ASGI 3, and hypercorn's extra arguments.
    seen: List[Any] = []

    def inner(*args: Any) -> None:
        seen.append(args[1:])

    app = StateApp(inner)  # type: ignore[arg-type]
    scope: Dict[str, Any] = {"type": "http"}
    app(scope)
    app(scope, "receive")
    app(scope, "receive", "send")
    app(scope, "receive", "send", "sync_spawn", "call_soon")
    assert seen == [(), ("receive",), ("receive", "send"), ("receive", "send", "sync_spawn", "call_soon")]


def test_asgi3_function_form_has_the_same_semantics_and_unwraps() -> None:
    inner = Recorder()
    run = StateApp(inner)
    fn = run.asgi3()
    lifespan = {"type": "lifespan"}
    asyncio.run(fn(lifespan, None, None))
    assert lifespan["state"] is run.state
    run.state["pool"] = pool = object()
    request: Dict[str, Any] = {"type": "http", "state": {"leaked": 1}}
    asyncio.run(fn(request, None, None))
    assert request["state"] == {"pool": pool} and request["state"] is not run.state
    assert unwrap_state_app(fn) is inner and unwrap_state_app(StateApp(fn).asgi3()) is inner
    assert state_app_of(fn) is run and state_app_of(inner) is None
