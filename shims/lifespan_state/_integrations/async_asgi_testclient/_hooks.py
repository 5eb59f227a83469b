"""async-asgi-testclient's hook code: its ``TestClient`` runs the lifespan with state.

Mode (the descriptor's range, confirmed by the probe :func:`has_state`):

* add (1.0.0 - 1.4.11, the newest): ``async with TestClient(app)`` runs the lifespan, but its
  lifespan scope (``{"type": "lifespan", "asgi": ...}``) has no ``state``, so a Starlette or
  FastAPI app whose lifespan yields state cannot start ("The server does not support "state" in
  the lifespan scope"), and requests get none.

The one hook point is ``TestClient.__init__``: ``self.application`` is what the lifespan, every
request and every WebSocket session call (``websocket.py`` reads ``client.application``), so it
becomes a :class:`~lifespan_state._core.StateApp` per client; a second ``async with`` of the same
client is a new run that starts empty. ``__aenter__`` / ``__aexit__`` are wrapped only to follow
the run, so that a request made outside it — a test that forgot ``async with``, or the client used
again afterwards — names the missing key and what to do instead of handing it an ended run's
objects (:class:`~lifespan_state._harness.MissingStateError`).
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

from ..._core import StateApp, owns_runs, unwrap_state_app
from ..._harness import explaining, follow, harness_targets
from ..._shim import Decision, Shim, Target
from . import INTEGRATION

__all__ = ["SHIM", "AsyncAsgiTestClientShim", "has_state"]

_HOW = "Run it first: `async with TestClient(app) as client:` and make the requests inside that block."


def has_state() -> bool:
    """Probe: does ``__aenter__`` put a ``state`` into the lifespan scope it builds?"""
    from async_asgi_testclient import TestClient

    enter = getattr(TestClient.__aenter__, "__wrapped__", TestClient.__aenter__)
    code = getattr(enter, "__code__", None)
    return code is not None and "state" in code.co_consts


def _client_init(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    app = unwrap_state_app(instance.application)
    if not owns_runs(app):  # LifespanStateMiddleware keeps each run's state itself
        run = follow(instance, "TestClient", _HOW)
        instance.application = StateApp(explaining(app, run))
    return result


class AsyncAsgiTestClientShim(Shim):
    integration = INTEGRATION

    def targets(self, decision: Decision) -> Sequence[Target]:
        from async_asgi_testclient import TestClient

        return harness_targets(TestClient, _client_init, "__aenter__", "__aexit__")


SHIM = AsyncAsgiTestClientShim()
