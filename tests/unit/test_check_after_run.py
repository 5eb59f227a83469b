"""S13 "after the run" (docs/CONFORMANCE.md) and the harness driver's part in it, offline.

The judge on observations of each shape (a leak, an empty state, a refusal, a server), the engine's
requests for after the run, and the driver making them through the run's client once its block has
ended — with a harness of our own (the real harnesses: tests/integration/test_harness_checks.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from lifespan_state._integrations._descriptor import Launch
from lifespan_state._integrations._load import in_tree, load
from lifespan_state.check import CHECKS
from lifespan_state.check import _harness_checks as driver
from lifespan_state.check._checks import after_run_body, main_body
from lifespan_state.check._observe import Observations, Plan, Run
from lifespan_state.check._recipes import RECIPES, ConfigError, Recipe
from lifespan_state.check._records import CheckResult
from lifespan_state.check._spec import CHECK_TABLE, judge
from lifespan_state.check._transports import TRANSPORTS

pytestmark = pytest.mark.unit

#: What the probe answers a request after the run: ``keys`` and the read of ``obj``.
ENDED = {"type": "http", "has_state": True, "state_type": "dict", "keys": [], "run": None,
         "acted": {"read": {"obj": "MissingStateError: lifespan state has no key 'obj': the run has ended"}}}


def _plan(recipe: Recipe = RECIPES["uvicorn"], config: Optional[Dict[str, str]] = None) -> Plan:
    return Plan(recipe, config or {}, False, True, list(CHECKS), [TRANSPORTS["h1"]], {})


def _s13(after: Optional[Run], plan: Optional[Plan] = None) -> CheckResult:
    return judge(CHECK_TABLE["S13"], Observations(plan or _plan(), Run(), {}, None, after))


def test_a_server_has_s13_not_applicable_with_the_reason() -> None:
    result = _s13(None)
    assert (result.status, result.detail) == (
        "skip", "a server serves nothing after its lifespan shutdown: no request comes after the run")


def test_the_ended_runs_objects_fail_it() -> None:
    leaked = dict(ENDED, keys=["items", "obj", "run"], run=1, acted={"read": {"obj": "found"}})
    result = _s13(Run(steps={"s13": leaked}))
    assert result.status == "fail"
    assert result.detail == ("a request after the run ended got the ended run's objects (items, obj, run; "
                             "lifespan run 1)")


def test_an_empty_state_passes_and_says_what_reading_a_key_raises() -> None:
    result = _s13(Run(steps={"s13": ENDED}))
    assert result.status == "pass"
    assert result.detail == ("a request after the run ended gets a state without the run's objects; "
                             "reading 'obj' raises MissingStateError: lifespan state has no key 'obj': "
                             "the run has ended")


def test_a_harness_refusing_the_request_passes_and_no_state_passes() -> None:
    refused = Run(errors={"s13": "RuntimeError: Cannot send a request, as the client has been closed."})
    assert _s13(refused).detail == ("the harness refuses a request after the run ended (RuntimeError: Cannot "
                                    "send a request, as the client has been closed.)")
    stateless = _s13(Run(steps={"s13": dict(ENDED, has_state=False, keys=None)}))
    assert (stateless.status, stateless.detail) == (
        "pass", "a request after the run ended gets no state at all: none of the run's objects")


def test_a_run_that_never_started_or_no_lifespan_is_not_a_pass() -> None:
    assert _s13(Run(start_error="TestClient did not start: boom")).status == "fail"
    assert _s13(Run(steps={"s13": ENDED}), _plan(config={"lifespan": "off"})).status == "skip"


def test_the_request_after_the_run_is_not_in_the_main_run() -> None:
    made: List[str] = []
    run = Run()
    run.step = lambda name, action: made.append(name)  # type: ignore[method-assign]
    session: Any = SimpleNamespace()
    main_body(_plan())(run, session)
    assert "s13" not in made
    made.clear()
    after_run_body(_plan())(run, session)
    assert made == ["s13"]
    made.clear()
    after_run_body(dataclasses.replace(_plan(), selected=["S1", "S2"]))(run, session)
    assert made == []


# -- the driver: the after-run requests go through the run's client, once its block has ended ------


class _Client:
    """A harness's run client answering the probe's view of an ended run, and what it saw."""

    def __init__(self) -> None:
        self.in_block = False
        self.targets: List[Tuple[str, bool]] = []

    def get(self, target: str) -> Any:
        self.targets.append((target, self.in_block))
        return SimpleNamespace(status_code=200, json=lambda: dict(ENDED))


def _arm(client: _Client, fail_start: bool = False) -> Any:
    @contextlib.contextmanager
    def open(harness: Any, portal: Any, lifespan: bool) -> Iterator[_Client]:
        if fail_start:
            raise RuntimeError("no lifespan")
        client.in_block = True
        yield client
        client.in_block = False

    harness = driver.Harness("toy", "toy client", lambda: (lambda app: app, open))
    return driver._Arm(harness, lambda app: app, open)


def test_the_driver_makes_the_after_run_requests_through_the_same_client_after_its_block() -> None:
    client, after = _Client(), Run()
    plan = _plan(Recipe("toy", Launch("")))
    main = _arm(client).serve(None, object(), 1.0, main_body(plan), after=(after, after_run_body(plan)))
    assert main.exit_code == 0
    assert client.targets[-1] == ("/?read=obj", False)  # after the block, and only then
    assert all(in_block for _, in_block in client.targets[:-1])
    assert after.steps["s13"]["keys"] == []


def test_the_driver_makes_no_after_run_request_when_the_run_never_started() -> None:
    client, after = _Client(), Run()
    plan = _plan(Recipe("toy", Launch("")))
    main = _arm(client, fail_start=True).serve(None, object(), 1.0, main_body(plan),
                                               after=(after, after_run_body(plan)))
    assert main.start_error == after.start_error == "toy client did not start: RuntimeError: no lifespan"
    assert client.targets == []


# -- the harness table ---------------------------------------------------------------------------


def test_every_harness_of_every_descriptor_is_a_harness_of_the_kit() -> None:
    keys = [key for i in map(load, in_tree()) for key, _ in i.harnesses]
    assert len(keys) == len(set(keys)) and all(keys)
    assert set(driver.HARNESSES) == {*keys, "lifespan_state.testing"}
    for name in keys:
        make, open = driver.HARNESSES[name].code()  # resolving them imports no harness
        assert callable(make) and callable(open)


def test_a_harness_needs_httpx_or_httpx2_unless_it_brings_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    present = {"starlette": "1.10.0", "async-asgi-testclient": "1.4.11", "anyio": "4.0"}
    monkeypatch.setattr(driver, "installed_version", present.get)
    with pytest.raises(ConfigError, match=r"^--harness testclient needs httpx2 or httpx installed \("):
        driver.check_harness("testclient", "off")
    # Its own client: what it needs is itself (the arm then runs in a process of its own).
    monkeypatch.setattr(driver, "json_line", lambda *args: {"server": "x", "server_version": None,
                                                           "config": {}, "shim": "off", "mode": None,
                                                           "checks": []})
    assert len(driver.check_harness("async-asgi-testclient", "off")) == 1
    present.pop("anyio")
    with pytest.raises(ConfigError, match="needs anyio installed"):
        driver.check_harness("async-asgi-testclient", "off")
    present.pop("async-asgi-testclient")
    with pytest.raises(ConfigError, match="needs async-asgi-testclient and anyio installed"):
        driver.check_harness("async-asgi-testclient", "off")
