"""The Starlette ``TestClient`` shim: every lifespan run starts empty (Starlette 0.26.0 and later).

Loaded when ``starlette.testclient`` is imported — never for an app that only imports Starlette.

Mode (from distribution metadata, confirmed by a feature probe):

* fix (0.26.0 - 1.10.0, the newest): the client creates one ``app_state`` dict in ``__init__`` and
  hands that same dict to the lifespan scope of every ``with client:`` block, so a client used for
  two blocks starts its second lifespan run with the first run's objects — the very leak between
  tests that lifespan state was made to end (``../shared/FIELD.md``, "Test harnesses"). Requests
  already get ``app_state.copy()`` (a fresh shallow copy of the live dict); that is kept.

Hook points, the same in every release: ``TestClient.__enter__`` (where a lifespan run starts)
gets a new dict for the client and its transport; ``__init__`` and ``__exit__`` only follow the
run, so that a request made with no lifespan running — a test that forgot ``with`` — names the
missing key and what to do (:class:`~lifespan_state._harness.MissingStateError`) instead of
Starlette's bare ``'State' object has no attribute ...``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

from ._harness import RunStatus, explaining
from ._shim import Decision, Shim, Target

__all__ = ["DISTRIBUTION", "SHIM", "StarletteShim", "is_patched", "patch", "status", "unpatch"]

DISTRIBUTION = "starlette"

_HOW = "Run it with `with TestClient(app) as client:` and make the requests inside that block."
#: Where a patched client keeps the phase of its run (for the message of a missing key).
_RUN = "_lifespan_state_run"


def _run_of(client: Any) -> Optional[RunStatus]:
    run = client.__dict__.get(_RUN)
    return run if isinstance(run, RunStatus) else None


def _client_init(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    transport = getattr(instance, "_transport", None)
    if transport is not None and callable(getattr(transport, "app", None)):
        run = RunStatus("TestClient", _HOW)
        instance.__dict__[_RUN] = run
        # The transport serves the http and websocket scopes; the lifespan goes to client.app.
        transport.app = explaining(transport.app, run)
    return result


def _client_enter(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    # A new run, a new dict: the previous run's objects stay with the previous run.
    previous = instance.app_state
    fresh: Dict[str, Any] = {}
    instance.app_state = fresh  # what TestClient.lifespan puts in the lifespan scope
    transport: Any = getattr(instance, "_transport", None)
    if getattr(transport, "app_state", None) is previous:
        transport.app_state = fresh  # what every request's copy is made from
    else:  # a transport we cannot reach: the old dict is emptied, so the run still starts empty
        previous.clear()
        instance.app_state = previous
    result = wrapped(*args, **kwargs)
    run = _run_of(instance)
    if run is not None:
        run.phase = "running"
    return result


def _client_exit(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        run = _run_of(instance)
        if run is not None:
            run.phase = "ended"


class StarletteShim(Shim):
    name = DISTRIBUTION

    def probe_native(self) -> bool:
        """Does the TestClient put lifespan state into its scopes (``app_state``, 0.26.0+)?"""
        from starlette.testclient import TestClient

        init = getattr(TestClient.__init__, "__wrapped__", TestClient.__init__)
        code = getattr(init, "__code__", None)
        return code is not None and "app_state" in code.co_names

    def targets(self, decision: Decision) -> Sequence[Target]:
        from starlette.testclient import TestClient

        return [
            (TestClient, "__init__", _client_init),
            (TestClient, "__enter__", _client_enter),
            (TestClient, "__exit__", _client_exit),
        ]


SHIM = StarletteShim()
patch, unpatch, is_patched, status = SHIM.patch, SHIM.unpatch, SHIM.is_patched, SHIM.status
