"""asgi-lifespan's hook code: ``LifespanManager`` hands requests the spec's state (1.0.0 and later).

The usual way to test a FastAPI or Starlette app with httpx::

    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)

Modes (the descriptor's ranges, confirmed by the feature probe :func:`has_state`):

* add (1.0.0 - 2.0.0): the manager has no lifespan state (a lifespan that yields state fails with
  Starlette's "The server does not support "state" in the lifespan scope"); ``manager.app`` gets it.
* fix (2.1.0, the newest release): ``state_middleware`` sets ``scope["state"]`` to the manager's
  dict *itself* for every scope, so what one request writes, the next one sees
  (docs/field.md, its column); each request now gets a fresh shallow copy.

The one hook point is ``LifespanManager.__init__`` (``self.app`` is what the manager runs the
lifespan on and what tests hand to httpx, in every release): it becomes a fresh
:class:`~lifespan_state._core.StateApp` per manager, so each manager run has its own dict (the
manager's own ``_state`` on 2.1.0). ``startup`` / ``shutdown`` are wrapped only to know whether
the lifespan is running, so that a request made outside it (a test that forgot ``async with``)
names the missing key and what to do (:class:`~lifespan_state._harness.MissingStateError`), and a
request through ``manager.app`` after the manager's block gets an empty state that says the run has
ended, never the ended run's objects.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

from ..._core import StateApp, owns_runs, unwrap_state_app
from ..._harness import explaining, follow, harness_targets
from ..._shim import Decision, Shim, Target
from . import INTEGRATION

__all__ = ["SHIM", "AsgiLifespanShim", "has_state"]

_HOW = (
    "Run it first: `async with LifespanManager(app) as manager:` and send the requests to "
    "`manager.app` inside that block."
)


def _manager_init(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    app = unwrap_state_app(args[0] if args else kwargs["app"])
    if owns_runs(app):
        return result  # LifespanStateMiddleware keeps each run's state: nothing of ours in front
    # 2.1.0 keeps the run's dict as ``_state``: keep that one object, so both names agree.
    state = getattr(instance, "_state", None)
    run = follow(instance, "LifespanManager", _HOW)
    own = state if isinstance(state, dict) else None
    instance.app = StateApp(explaining(app, run), own)
    return result


def has_state() -> bool:
    """Probe: does the manager put a dict into the scopes it runs (2.1.0's ``state_middleware``)?"""
    from asgi_lifespan import _manager

    return hasattr(_manager, "state_middleware")


class AsgiLifespanShim(Shim):
    integration = INTEGRATION

    def targets(self, decision: Decision) -> Sequence[Target]:
        from asgi_lifespan import LifespanManager

        return harness_targets(LifespanManager, _manager_init, "startup", "shutdown")


SHIM = AsgiLifespanShim()
