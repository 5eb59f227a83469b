"""Unit tests of the hypercorn shim's helpers (no server: the real servers are in test_hypercorn)."""

from __future__ import annotations

import asyncio
import copy
import inspect
import threading
from typing import Any, Dict, List

from lifespan_state._core import StateApp
from lifespan_state._wrappers import (
    AsyncStateApp,
    SharedOnDeepcopy,
    make_state_app,
    proxy_fix_call,
)


def test_deepcopy_of_a_scope_hands_on_a_shallow_copy_of_the_state() -> None:
    lock = threading.Lock()
    state = SharedOnDeepcopy({"lock": lock, "items": []})
    scope = {"type": "http", "headers": [(b"a", b"b")], "state": state}
    copied = copy.deepcopy(scope)  # what ProxyFixMiddleware does; a lock cannot be deep-copied
    assert type(copied["state"]) is dict
    assert copied["state"] is not state
    assert copied["state"]["lock"] is lock
    assert copied["state"]["items"] is state["items"]
    assert copied["headers"] is not scope["headers"]  # the rest of the scope is still deep-copied


def test_proxy_fix_wrapper_touches_only_request_scopes() -> None:
    calls: List[Dict[str, Any]] = []

    def wrapped(scope: Dict[str, Any], receive: Any, send: Any) -> str:
        calls.append(scope)
        return "awaitable"

    namespace: Dict[str, Any] = {}
    lifespan = {"type": "lifespan", "state": namespace}
    assert proxy_fix_call(wrapped, None, (lifespan, None, None), {}) == "awaitable"
    assert lifespan["state"] is namespace  # the lifespan must keep the namespace itself

    request_state = {"k": object()}
    request = {"type": "http", "state": request_state}
    proxy_fix_call(wrapped, None, (request, None, None), {})
    assert type(request["state"]) is SharedOnDeepcopy
    assert request["state"] == request_state

    websocket = {"type": "websocket", "state": {"k": 1}}
    proxy_fix_call(wrapped, None, (websocket, None, None), {})
    assert type(websocket["state"]) is SharedOnDeepcopy


def test_state_app_shape_follows_hypercorn_before_0_14() -> None:
    async def asgi3(scope: Any, receive: Any, send: Any) -> None:
        return None

    def is_asgi2(app: Any) -> bool:  # hypercorn 0.11 - 0.13's utils._is_asgi_2
        if inspect.isclass(app):
            return True
        if callable(app) and inspect.iscoroutinefunction(app.__call__):
            return False
        return not inspect.iscoroutinefunction(app)

    three = make_state_app(asgi3, is_asgi2)
    assert type(three) is AsyncStateApp
    assert inspect.iscoroutinefunction(three.__call__)  # invoke_asgi calls it as ASGI 3
    assert not is_asgi2(three)

    class ASGI2App:
        def __init__(self, scope: Any) -> None:
            self.scope = scope

    two = make_state_app(ASGI2App, is_asgi2)
    assert type(two) is StateApp
    scope: Dict[str, Any] = {"type": "http"}
    instance = two(scope)  # ASGI 2: the app's instance comes back for invoke_asgi to await
    assert isinstance(instance, ASGI2App)
    assert scope["state"] == {}

    # hypercorn >= 0.14 wraps every app itself: no inspection, the plain StateApp.
    assert type(make_state_app(asgi3, None)) is StateApp


def test_async_state_app_gives_each_request_a_copy() -> None:
    seen: List[Dict[str, Any]] = []

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["state"])

    wrapper = AsyncStateApp(app)
    lifespan: Dict[str, Any] = {"type": "lifespan"}
    first: Dict[str, Any] = {"type": "http"}
    second: Dict[str, Any] = {"type": "websocket"}

    async def run() -> None:
        await wrapper(lifespan, None, None)
        lifespan["state"]["key"] = "value"
        await wrapper(first, None, None)
        await wrapper(second, None, None)

    asyncio.run(run())
    assert seen[0] is wrapper.state
    assert seen[1] == seen[2] == {"key": "value"}
    assert seen[1] is not seen[2] and seen[1] is not wrapper.state
