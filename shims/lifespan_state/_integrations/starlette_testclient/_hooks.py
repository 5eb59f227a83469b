"""Starlette ``TestClient``'s hook code: every lifespan run starts empty (Starlette 0.26.0 and later).

Loaded when ``starlette.testclient`` is imported — never for an app that only imports Starlette.

Mode (the descriptor's range, confirmed by the feature probe :func:`has_state`):

* fix (0.26.0 - 1.10.0, the newest): the client creates one ``app_state`` dict in ``__init__`` and
  hands that same dict to the lifespan scope of every ``with client:`` block, so a client used for
  two blocks starts its second lifespan run with the first run's objects — the very leak between
  tests that lifespan state was made to end (docs/field.md, the TestClient column). Requests
  already get ``app_state.copy()`` (a fresh shallow copy of the live dict); that is kept.

Hook points, the same in every release: ``TestClient.__enter__`` (where a lifespan run starts)
gets a new dict for the client and its transport; ``__init__`` and ``__exit__`` only follow the
run, so that a request made with no lifespan running — a test that forgot ``with`` — names the
missing key and what to do (:class:`~lifespan_state._harness.MissingStateError`) instead of
Starlette's bare ``'State' object has no attribute ...``; a request made after the block (the
client used again) gets an empty state that says the run has ended, never the ended run's
objects. An app behind ``LifespanStateMiddleware`` keeps its runs itself: the client's requests are
left to it.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

from ..._code_probes import names
from ..._core import owns_runs
from ..._harness import explaining, follow, harness_targets
from ..._shim import Decision, Shim, Target
from . import INTEGRATION

__all__ = ["SHIM", "StarletteShim", "has_state"]

_HOW = "Run it with `with TestClient(app) as client:` and make the requests inside that block."


def _client_init(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    transport = getattr(instance, "_transport", None)
    if transport is not None and callable(getattr(transport, "app", None)) and not owns_runs(transport.app):
        run = follow(instance, "TestClient", _HOW)
        # The transport serves the http and websocket scopes; the lifespan goes to client.app.
        transport.app = explaining(transport.app, run)
    return result


def _fresh_state(client: Any) -> None:
    """Before ``__enter__``: a new run, a new dict; the previous run's objects stay with it."""
    previous = client.app_state
    fresh: Dict[str, Any] = {}
    client.app_state = fresh  # what TestClient.lifespan puts in the lifespan scope
    transport: Any = getattr(client, "_transport", None)
    if getattr(transport, "app_state", None) is previous:
        transport.app_state = fresh  # what every request's copy is made from
    else:  # a transport we cannot reach: the old dict is emptied, so the run still starts empty
        previous.clear()
        client.app_state = previous


def has_state() -> bool:
    """Probe: does the TestClient put lifespan state into its scopes (``app_state``, 0.26.0+)?"""
    from starlette.testclient import TestClient

    return "app_state" in names(TestClient.__init__)


class StarletteShim(Shim):
    integration = INTEGRATION

    def targets(self, decision: Decision) -> Sequence[Target]:
        from starlette.testclient import TestClient

        return harness_targets(TestClient, _client_init, "__enter__", "__exit__", before_start=_fresh_state)


SHIM = StarletteShim()
