"""The check kit's middleware arm, offline: what its probe app is, what the environment of its
processes says, and how S9 and S12 judge it. The arm against real servers and harnesses is
tests/integration/test_middleware_arm.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

import pytest

from lifespan_state._registry import DISABLE_ENV
from lifespan_state.check import CHECK_TABLE, CHECKS, RECIPES
from lifespan_state.check import _probe as probe
from lifespan_state.check._checks import SHIMS, arms, environment
from lifespan_state.check._observe import Observations, Run, make_plan
from lifespan_state.check._spec import LIFESPAN_KEYS, judge

pytestmark = pytest.mark.unit


def _serve(app: Any, runtime_state: Optional[Dict[str, Any]], requests: List[Any]) -> List[Dict[str, Any]]:
    """One lifespan run of ``app`` with ``runtime_state`` in its scope, then the requests, each
    scope's state made by a function of the runtime's dict (as a server would): the views."""
    import json

    async def main() -> List[Dict[str, Any]]:
        inbox: asyncio.Queue[Dict[str, Any]] = asyncio.Queue()
        sent: List[Dict[str, Any]] = []

        async def lifespan_send(message: Dict[str, Any]) -> None:
            sent.append(message)

        scope: Dict[str, Any] = {"type": "lifespan"}
        if runtime_state is not None:
            scope["state"] = runtime_state
        task = asyncio.ensure_future(app(scope, inbox.get, lifespan_send))
        await inbox.put({"type": "lifespan.startup"})
        while not sent:
            await asyncio.sleep(0)
        views = []
        for make_state in requests:
            body: List[bytes] = []
            request: Dict[str, Any] = {"type": "http", "query_string": b""}
            given = make_state(runtime_state)
            if given is not None:
                request["state"] = given

            async def receive() -> Dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: Dict[str, Any], body: List[bytes] = body) -> None:
                if message["type"] == "http.response.body":
                    body.append(message["body"])

            await app(request, receive, send)
            views.append(json.loads(b"".join(body)))
        await inbox.put({"type": "lifespan.shutdown"})
        await task
        return views

    return asyncio.run(main())


def test_the_probe_of_the_middleware_arm_reports_whether_the_marker_came_in() -> None:
    app = probe._middleware_arm()
    copied, none = _serve(app, {}, [lambda native: dict(native), lambda native: None])
    assert copied["runtime_marked"] is True and none["runtime_marked"] is False
    for view in (copied, none):  # the middleware's copy of its own dict, whatever came in
        assert set(LIFESPAN_KEYS) <= set(view["keys"]) and not view["is_lifespan_dict"]
    # The other arms' probe is the probe itself: nothing to report.
    assert probe.app is probe._probe
    (plain,) = _serve(probe.app, {}, [lambda native: dict(native)])
    assert plain["runtime_marked"] is None


def test_the_middleware_arm_activates_nothing() -> None:
    env = environment(False, middleware=True)
    assert env["LIFESPAN_STATE_PROBE_SHIM"] == "middleware" and env[DISABLE_ENV] == "1"
    assert environment(True)["LIFESPAN_STATE_PROBE_SHIM"] == "1"


def test_arms_leave_out_only_the_shim_where_it_has_no_module() -> None:
    assert arms("all", "uvicorn") == ["off", "on", "middleware"]
    assert arms("all", "no-such-server") == ["off", "middleware"]
    assert arms("both", "no-such-server") == ["off"]
    assert arms("middleware", "no-such-server") == ["middleware"]
    assert set(SHIMS) == {"on", "off", "both", "middleware", "all"}


def _views(run: int, marked: bool) -> Dict[str, Any]:
    lifespan = {"run": run, "pid": 5, "has_state": True, "state_type": "dict", "empty_at_startup": True,
                "obj_id": 10 * run, "items_id": 10 * run + 1}
    return {"type": "http", "has_state": True, "state_type": "dict", "keys": sorted(LIFESPAN_KEYS),
            "run": run, "obj_id": 10 * run, "items_id": 10 * run + 1, "lifespan": lifespan,
            "runtime_marked": marked}


def _s9(middleware: bool, concurrent: List[Dict[str, Any]]) -> Any:
    plan = make_plan(RECIPES["uvicorn"], {"lifespan": "auto"}, False, False, list(CHECKS), middleware)
    s9 = {"sequential": [_views(1, True), _views(2, True)], "concurrent": concurrent, "error": ""}
    return judge(CHECK_TABLE["S9"], Observations(plan, Run(), {}, s9))


def test_s9_two_at_once_the_middleware_cannot_tell_apart_is_said_not_passed() -> None:
    # The latest run wins where the runtime's requests carry no marker: n/a, saying why.
    latest = _s9(True, [_views(4, False), _views(4, False)])
    assert latest.status == "skip" and "cannot be told apart by the middleware alone" in latest.detail
    # With the marker there, sharing is the middleware's own failure; natively always a failure.
    assert _s9(True, [_views(4, True), _views(4, True)]).status == "fail"
    assert _s9(False, [_views(4, False), _views(4, False)]).status == "fail"
    assert _s9(True, [_views(3, True), _views(4, True)]).status == "pass"


def test_s12_is_not_about_the_middleware() -> None:
    plan = make_plan(RECIPES["uvicorn"], {"lifespan": "auto"}, False, False, list(CHECKS), True)
    result = judge(CHECK_TABLE["S12"], Observations(plan, Run(), {}, None))
    assert result.status == "skip" and "middleware arm" in result.detail
    assert plan.arm == "middleware"
