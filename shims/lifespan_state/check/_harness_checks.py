"""Test harnesses as the "server" of the one engine: the checks in-process (docs/CONFORMANCE.md).

The probe runs behind a harness: one of the integrations that has a ``harness`` in its descriptor
(``HarnessKit``: its ``make`` and ``open`` live in the integration's ``_kit.py``), or
``lifespan_state.testing.lifespan_client``. One ``open`` of the harness is one run; its client
stands where the HTTP/1.1 connection stands, so the checks' requests and judges run unchanged
through the engine's :func:`~._checks.main_body` and :func:`~._checks.record`; once the run has
ended, the same client carries the requests of :func:`~._checks.after_run_body` (S13). Each arm
(shim on / off, the middleware) is a fresh ``python -m lifespan_state.check._harness_checks NAME
on|off|middleware CHECKS TIMEOUT``: the checking process never imports a harness, and no shim
state leaks between arms.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

from .._integrations._descriptor import HarnessKit, Integration, Launch
from .._integrations._load import integrations
from .._versions import installed_version
from ..testing import CLIENTS, lifespan_client  # imports no harness (httpx only when a client opens)
from . import _checks as engine
from . import _driver
from ._observe import Observations, Plan, Run, describe
from ._portal import blocking
from ._recipes import ConfigError, LaunchContext, Recipe
from ._records import ResultRecord
from ._runner import json_line
from ._spec import CHECKS
from ._transports import TRANSPORTS, Session

__all__ = ["HARNESSES", "Harness", "check_harness"]

#: app -> one harness object (one may serve several runs).
Make = Callable[[Any], Any]
#: (harness, portal, lifespan?) -> one run: a client whose ``get(target)`` is an httpx response.
Open = Callable[[Any, Any, bool], ContextManager[Any]]


@dataclass(frozen=True)
class Harness:
    server: str  # the record's server: the distribution, also the name of its shim (S12)
    label: str  # what carries the requests, in the checks' details
    #: -> (make, open), imported in the arm's process only.
    code: Callable[[], Tuple[Make, Open]]
    raising: bool = False  # S8 runs an app raising on the lifespan (the others raise it: no lifespan)
    no_websocket: str = ""  # why there is no WebSocket client
    distribution: str = ""  # whose version the record gives, when not ``server``'s
    clients: Tuple[str, ...] = ()  # the HTTP clients it can use, preferred first (its kit's)

    def client(self) -> Optional[str]:
        """The first of its clients installed here (the one its ``open`` uses)."""
        return next((c for c in self.clients if installed_version(c) is not None), None)


def _of(integration: Integration, kit: HarnessKit) -> Harness:
    def code() -> Tuple[Make, Open]:
        return integration.resolve(kit.make), integration.resolve(kit.open)

    return Harness(integration.name, kit.label, code, kit.raising, kit.no_websocket, clients=kit.clients)


def _testing() -> Tuple[Make, Open]:
    # The package's own semantics: not an integration, the kit's own arm.
    return (lambda app: app), (lambda app, portal, _: blocking(portal, lifespan_client(app)))


HARNESSES: Dict[str, Harness] = {
    **{key: _of(i, kit) for i in integrations() for key, kit in i.harnesses},
    "lifespan_state.testing": Harness("lifespan_state.testing", "lifespan_client (httpx.ASGITransport)",
                                      _testing, raising=True, no_websocket="httpx has no WebSocket client",
                                      distribution="lifespan-state-shim", clients=CLIENTS),
}


class _Session(Session):
    def __init__(self, client: Any, harness: Any, timeout: float) -> None:
        super().__init__(LaunchContext("127.0.0.1", 0, ""), timeout)
        self.harness, self.client = harness, client

    def connect(self) -> Any:
        # Every connection of the engine's HTTP/1.1 steps is the run's one client.
        return contextlib.nullcontext(SimpleNamespace(get=self._answer))

    def websocket(self, conn: Any, path: str) -> Any:
        # S6 through the harness's own WebSocket client (there is no connection to upgrade): a
        # harness with one has ``websocket_connect(path)``, as its descriptor's ``no_websocket`` says,
        # on the run's client (an async harness's, made blocking) or on the harness object.
        owner = self.client if hasattr(self.client, "websocket_connect") else self.harness
        return owner.websocket_connect(path)

    def _answer(self, target: str) -> Any:
        response = self.client.get(target)
        return SimpleNamespace(status=response.status_code, json=response.json)


@dataclass(frozen=True)
class _Arm:
    """One harness in this process: its code resolved."""

    harness: Harness
    make: Make
    open: Open

    def serve(self, portal: Any, app: Any, timeout: float, body: engine.Body, lifespan: bool = True,
              after: Optional[Tuple[Run, engine.Body]] = None) -> Run:
        """One run of a new harness object (``lifespan=False``: requests with none), ``body`` against
        it; then ``after``'s body through the same client, its observations in ``after``'s run."""
        label = self.harness.label
        run, harness, session = Run(), self.make(app), None
        try:
            with self.open(harness, portal, lifespan) as client:
                session = _Session(client, harness, timeout)
                body(run, session)  # its steps catch their own errors
            run.exit_code = 0
        except Exception as exc:  # the harness's start (no step then runs) or its end
            run.exit_code, run.log_tail = 1, f"{label}: {describe(exc)}"
            run.start_error = "" if session else f"{label} did not start: {describe(exc)}"
        if after is not None:
            then, then_body = after
            then.start_error = run.start_error
            if session is not None:
                then_body(then, session)
        return run

    def scenarios(self, app: Any, portal: Any) -> Dict[str, Any]:
        """``_driver``'s scenarios, each server config a new harness object (its port only names it)."""

        def serving(configs: List[Any], schedule: _driver.Schedule) -> List[Dict[str, Any]]:
            with contextlib.ExitStack() as stack:  # all of them open while the schedule runs, as servers
                clients = {port: stack.enter_context(self.open(harness, portal, True))
                           for port, harness in configs}
                return [clients[port].get(target).json() for port, target in schedule]

        views = [serving(configs, schedule)
                 for configs, schedule in _driver.scenarios(lambda port: (port, self.make(app)))]
        return {**_driver.result(views), "error": ""}


def _arm(name: str, which: str, selected: Sequence[str], timeout: float) -> ResultRecord:
    """The selected checks of one harness, in this process (one arm's, see the docstring)."""
    import anyio.from_thread

    # First: with LIFESPAN_STATE_PROBE_SHIM=1 it activates the shim; with =middleware its app is
    # the middleware's.
    from . import _probe

    h = HARNESSES[name]
    arm = _Arm(h, *h.code())
    ws = [] if h.no_websocket else [dataclasses.replace(TRANSPORTS["ws"], label=f"{h.label} WebSocket")]
    transports = [dataclasses.replace(TRANSPORTS["h1"], label=h.label), *ws]
    client = h.client()  # check_harness checked there is one where the harness needs one
    config = {"harness": h.label, **({client: str(installed_version(client))} if client else {})}
    plan = Plan(Recipe(h.server, Launch("")), config, False, which == "on", selected, transports,
                {"WebSocket": h.no_websocket} if h.no_websocket else {}, which == "middleware")
    s8, s9, app, after = {}, None, _probe.app, Run()
    with anyio.from_thread.start_blocking_portal() as portal:
        main_run = arm.serve(portal, app, timeout, engine.main_body(plan),
                             after=(after, engine.after_run_body(plan)))
        # What its lifespan.shutdown saw (S10) is in this process (a server's goes to a report file).
        main_run.shutdown = [_probe._public(record) for record in _probe._RUNS.values()]
        if engine.needs_runs_without_lifespan(plan):
            os.environ["LIFESPAN_STATE_PROBE_LIFESPAN"] = "raise" if h.raising else ""
            label = "app raises on lifespan" if h.raising else "lifespan not run"
            without = engine.without_lifespan_body(plan)
            s8[label] = arm.serve(portal, app, timeout, without, lifespan=h.raising)
            os.environ.pop("LIFESPAN_STATE_PROBE_LIFESPAN")
        if engine.needs_driver(plan):
            try:
                s9 = arm.scenarios(app, portal)
            except Exception as exc:
                s9 = {"error": describe(exc)}
    version = str(installed_version(h.distribution or h.server))
    return engine.record(Observations(plan, main_run, s8, s9, after), h.server, version, config)


def check_harness(name: str, shim: str = "both", checks: Optional[Sequence[str]] = None,
                  timeout: float = 10.0, progress: engine.Progress = engine.quiet) -> List[ResultRecord]:
    """``lifespan-state check --harness NAME``: the harness as installed here, a fresh process per
    arm; ``shim`` as for servers (``both``: natively, then with the shim where it has a module).
    Raises ConfigError when the harness is not installed or an arm ends without a result."""
    h, records = HARNESSES[name], []
    # anyio drives every arm (its blocking portal); the httpx clients bring it, other harnesses may not.
    missing = [d for d in (h.distribution or h.server, "anyio") if installed_version(d) is None]
    if h.clients and h.client() is None:
        missing.append(" or ".join(h.clients))
    if missing:
        raise ConfigError(f"--harness {name} needs {' and '.join(missing)} installed ({sys.executable})")
    for arm in engine.arms(shim, h.server):
        progress(f"{name} {engine.ARM_LABELS[arm]}: in-process runs")
        args = [__name__, name, arm, ",".join(checks or CHECKS), str(timeout)]
        env = engine.environment(arm == "on", middleware=arm == "middleware")
        records.append(ResultRecord.from_dict(json_line(
            args, env, timeout * 12 + 60, lambda why: ConfigError(f"{name}: {why}"))))
    return records


if __name__ == "__main__":
    name, shim, selected, timeout = sys.argv[1:5]
    print(json.dumps(_arm(name, shim, selected.split(","), float(timeout)).as_dict()), flush=True)
