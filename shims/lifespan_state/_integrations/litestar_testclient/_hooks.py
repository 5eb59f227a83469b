"""Litestar's test clients' hook code: a non-Litestar app under them gets the spec's state.

Modes (the descriptor's ranges, confirmed by the probe :func:`has_state`):

* add (2.0.0 - 2.3.x): ``TestClient(app)`` hands a non-Litestar app (Starlette, FastAPI, raw
  ASGI) its scopes without any ``state``.
* fix (2.4.0 - 2.25.0, the newest): ``_wrap_app_to_add_state`` gives every scope, the lifespan's
  included, a fresh ``{}`` — so what a Starlette lifespan yields never reaches a request.

A Litestar app is left as it is (it keeps its state itself). The hook point is
``BaseTestClient.__init__`` (the same ``(self, app, ...)`` in every 2.x release): for a
non-Litestar app, ``client.app`` — what the lifespan handler, the transport and the WebSocket
session call — becomes a :class:`~lifespan_state._core.StateApp` around the app itself, which
also makes the fresh-``{}`` wrapper unnecessary. ``__enter__``/``__exit__`` (``TestClient``) and
``__aenter__``/``__aexit__`` (``AsyncTestClient``) are wrapped only to follow the run, so that a
request outside it names the missing key and what to do
(:class:`~lifespan_state._harness.MissingStateError`), never an ended run's objects.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from ..._core import StateApp, owns_runs, unwrap_state_app
from ..._harness import explaining, follow, run_targets
from ..._shim import Decision, Shim, Target
from . import INTEGRATION

__all__ = ["SHIM", "LitestarTestClientShim", "has_state"]


def _how(client: str) -> str:
    opener = "async with" if client.startswith("Async") else "with"
    return f"Run it with `{opener} {client}(app) as client:` and make the requests inside that block."


def has_state() -> bool:
    """Probe: the client gives a non-Litestar app's scopes a ``state`` (2.4.0+)."""
    from litestar.testing.client import base

    return hasattr(base, "_wrap_app_to_add_state")


def _client_init(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    from litestar import Litestar

    app = unwrap_state_app(args[0] if args else kwargs.get("app"))
    if app is not None and not isinstance(app, Litestar) and not owns_runs(app):
        name = type(instance).__name__
        run = follow(instance, name, _how(name))
        instance.app = StateApp(explaining(app, run))
    return result


class LitestarTestClientShim(Shim):
    integration = INTEGRATION

    def targets(self, decision: Decision) -> Sequence[Target]:
        from litestar.testing.client import base
        from litestar.testing.client.async_client import AsyncTestClient
        from litestar.testing.client.sync_client import TestClient

        targets: List[Target] = [(base.BaseTestClient, "__init__", _client_init)]
        targets += run_targets(TestClient, "__enter__", "__exit__")
        targets += run_targets(AsyncTestClient, "__aenter__", "__aexit__")
        return targets


SHIM = LitestarTestClientShim()
