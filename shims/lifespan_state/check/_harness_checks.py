"""Test harnesses as the "server" of the one engine: the checks in-process (docs/CONFORMANCE.md).

The probe runs behind asgi-lifespan's ``LifespanManager`` + ``httpx.ASGITransport`` (a new manager
per run, as tests use it), Starlette's ``TestClient`` (one client for all its ``with`` blocks) or
``lifespan_state.testing.lifespan_client``. One ``with`` of the harness is one run; its client
stands where the HTTP/1.1 connection stands, so ``_checks``' steps and judges run unchanged. Each
arm (shim on / off) is a fresh ``python -m lifespan_state.check._harness_checks NAME on|off CHECKS
TIMEOUT``: the checking process never imports a harness, and no shim state leaks between arms.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import sys
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, AsyncIterator, Callable, ContextManager, Dict, Iterator, List, Optional, Sequence

from .._versions import installed_version
from ..testing import lifespan_client  # imports no harness (httpx only when a client opens)
from . import _checks as engine
from . import _driver
from ._recipes import ConfigError, LaunchContext, Recipe
from ._records import CHECKS, ResultRecord
from ._runner import json_line
from ._transports import TRANSPORTS, Session

__all__ = ["HARNESSES", "Harness", "check_harness"]


@dataclass(frozen=True)
class Harness:
    server: str  # the record's server: the distribution, also the name of its shim (S12)
    label: str  # what carries the requests, in the checks' details
    make: Callable[[Any], Any]  # app -> one harness (a TestClient serves several runs)
    #: (harness, portal, lifespan?) -> one run: a client whose ``get(target)`` is an httpx response.
    open: Callable[[Any, Any, bool], ContextManager[Any]]
    raising: bool = False  # S8 runs an app raising on the lifespan (the others raise it: no lifespan)
    no_websocket: str = ""  # why there is no WebSocket client
    distribution: str = ""  # whose version the record gives, when not ``server``'s


@contextlib.contextmanager
def _blocking(portal: Any, client: Any) -> Iterator[Any]:
    # Entered and left in one task on the portal's loop (harnesses hold task groups); any thread calls.
    with portal.wrap_async_context_manager(client) as entered:
        yield SimpleNamespace(get=lambda target: portal.call(entered.get, target))


@contextlib.asynccontextmanager
async def _asgi_lifespan(app: Any, lifespan: bool) -> AsyncIterator[Any]:
    import httpx
    from asgi_lifespan import LifespanManager

    manager = LifespanManager(app)  # made on the loop: it detects its async library
    async with manager if lifespan else contextlib.AsyncExitStack(), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://h") as client:
        yield client


_NO_WS = "httpx has no WebSocket client"
HARNESSES: Dict[str, Harness] = {
    "asgi-lifespan": Harness("asgi-lifespan", "LifespanManager + httpx.ASGITransport", lambda app: app,
                             lambda app, pt, on: _blocking(pt, _asgi_lifespan(app, on)), no_websocket=_NO_WS),
    "testclient": Harness("starlette", "TestClient",  # one client, every run (FIELD's leak needs that)
                          lambda app: importlib.import_module("starlette.testclient").TestClient(app),
                          lambda client, _, on: client if on else contextlib.nullcontext(client)),
    "lifespan_state.testing": Harness("lifespan_state.testing", "lifespan_client (httpx.ASGITransport)",
                                      lambda app: app, lambda app, pt, _: _blocking(pt, lifespan_client(app)),
                                      raising=True, no_websocket=_NO_WS, distribution="lifespan-state-shim"),
}


class _Session(Session):
    def __init__(self, client: Any, harness: Any, timeout: float) -> None:
        super().__init__(LaunchContext("127.0.0.1", 0, ""), timeout)
        self.harness, self.client = harness, client

    def connect(self) -> Any:
        # Every connection of the engine's HTTP/1.1 steps is the run's one client.
        return contextlib.nullcontext(SimpleNamespace(get=self._answer))

    def websocket(self, conn: Any, path: str) -> Any:
        # S6 through a TestClient: its own WebSocket session (there is no connection to upgrade).
        return self.harness.websocket_connect(path)

    def _answer(self, target: str) -> Any:
        response = self.client.get(target)
        return SimpleNamespace(status=response.status_code, json=response.json)


def _serve(h: Harness, portal: Any, app: Any, timeout: float, body: Callable[[Any, Session], None],
           lifespan: bool = True) -> Any:
    """One run of a new harness (``lifespan=False``: requests with none), ``body`` against it."""
    run, harness, started = engine._Run(), h.make(app), False
    try:
        with h.open(harness, portal, lifespan) as client:
            started = True
            body(run, _Session(client, harness, timeout))  # its steps catch their own errors
        run.exit_code = 0
    except Exception as exc:  # the harness's start (no step then runs) or its end
        run.exit_code, run.log_tail = 1, f"{h.label}: {engine._fmt(exc)}"
        run.start_error = "" if started else f"{h.label} did not start: {engine._fmt(exc)}"
    return run


def _s9(h: Harness, app: Any, portal: Any) -> Dict[str, Any]:
    """``_driver``'s scenarios, each server config a new harness (its port only names it in the plan)."""

    def serving(configs: List[Any], plan: _driver.Plan) -> List[Dict[str, Any]]:
        with contextlib.ExitStack() as stack:  # all of them open while the plan runs, as the servers
            clients = {port: stack.enter_context(h.open(harness, portal, True)) for port, harness in configs}
            return [clients[port].get(target).json() for port, target in plan]

    scenarios = _driver._scenarios(lambda port: (port, h.make(app)))
    return {**_driver._result([serving(configs, plan) for configs, plan in scenarios]), "error": ""}


def _arm(name: str, shim_on: bool, selected: Sequence[str], timeout: float) -> ResultRecord:
    """The selected checks of one harness, in this process (one arm's, see the docstring)."""
    import anyio.from_thread

    from . import _probe  # first: with LIFESPAN_STATE_PROBE_SHIM=1 it activates the shim

    h = HARNESSES[name]
    ws = [] if h.no_websocket else [dataclasses.replace(TRANSPORTS["ws"], label=f"{h.label} WebSocket")]
    transports = [dataclasses.replace(TRANSPORTS["h1"], label=h.label), *ws]
    config = {"harness": h.label, "httpx": str(installed_version("httpx"))}  # both checked installed
    plan = engine._Plan(Recipe(h.server, ""), config, False, shim_on, selected, transports,
                        {"WebSocket": h.no_websocket} if h.no_websocket else {})
    s8, s9, app = {}, None, _probe.app
    with anyio.from_thread.start_blocking_portal() as portal:
        main_run = _serve(h, portal, app, timeout, engine._main_body(plan))
        # What its lifespan.shutdown saw (S10) is in this process (a server's goes to a report file).
        main_run.shutdown = [_probe._public(record) for record in _probe._RUNS.values()]
        if "S8" in selected:
            os.environ["LIFESPAN_STATE_PROBE_LIFESPAN"] = "raise" if h.raising else ""
            label = "app raises on lifespan" if h.raising else "lifespan not run"
            s8[label] = _serve(h, portal, app, timeout, engine._s8_body, lifespan=h.raising)
            os.environ.pop("LIFESPAN_STATE_PROBE_LIFESPAN")
        if "S9" in selected:
            try:
                s9 = _s9(h, app, portal)
            except Exception as exc:
                s9 = {"error": engine._fmt(exc)}
    version = str(installed_version(h.distribution or h.server))
    return engine._Obs(plan, main_run, s8, s9).record(h.server, version, config)


def check_harness(name: str, shim: str = "both", checks: Optional[Sequence[str]] = None,
                  timeout: float = 10.0, progress: engine.Progress = engine._silent) -> List[ResultRecord]:
    """``lifespan-state check --harness NAME``: the harness as installed here, a fresh process per
    arm; ``shim`` as for servers (``both``: natively, then with the shim where it has a module).
    Raises ConfigError when the harness is not installed or an arm ends without a result."""
    h, records = HARNESSES[name], []
    missing = [d for d in (h.distribution or h.server, "httpx") if installed_version(d) is None]
    if missing:
        raise ConfigError(f"--harness {name} needs {' and '.join(missing)} installed ({sys.executable})")
    for shim_on in [False] if shim == "both" and not engine.shim_supports(h.server) else engine.SHIMS[shim]:
        progress(f"{name} shim {'on' if shim_on else 'off'}: in-process runs")
        args = [__name__, name, "on" if shim_on else "off", ",".join(checks or CHECKS), str(timeout)]
        records.append(ResultRecord.from_dict(json_line(
            args, engine._env(shim_on), timeout * 12 + 60, lambda why: ConfigError(f"{name}: {why}"))))
    return records


if __name__ == "__main__":
    name, shim, selected, timeout = sys.argv[1:5]
    print(json.dumps(_arm(name, shim == "on", selected.split(","), float(timeout)).as_dict()), flush=True)
