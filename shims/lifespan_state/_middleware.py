"""``LifespanStateMiddleware``: the spec's lifespan state on any runtime that runs the lifespan.

For servers and test clients the shim has no integration for (an in-house server, a C server, a
fork), put it outermost around the app — no activation needed::

    app = LifespanStateMiddleware(app)

It owns each run's dict, whatever the server does with its own: the app's lifespan scope gets
the middleware's dict (so a server that empties its dict before shutdown, or hands it to every
request, cannot touch the app's state; the server's own dict stays the server's), and every
http and websocket scope gets a shallow copy of its run's live dict. It must be the outermost
layer: a middleware outside it that deep-copies the scope (hypercorn's ``ProxyFixMiddleware``
of 0.16 - 0.18) would copy the state before this one made the request's own copy.

Telling runs apart: where the server puts a dict into the lifespan scope, the middleware puts a
private marker into it, which travels into that server's request scopes (whether the server
copies its dict per request, per connection or hands it out itself) and names the run. Where the
server provides none, the latest run wins — two servers serving one app object at once cannot
then be told apart.

After a run has ended (``lifespan.shutdown.complete`` sent), its requests get an empty state whose
missing keys say so (:class:`~lifespan_state._harness.MissingStateError`), the same as a test
harness under the shim; where no lifespan ran at all (the server runs none, or the app raised on
the lifespan scope), each request gets an empty dict of its own.

It composes without doubling: wrapping it again returns it unchanged, and the shim finds it in
front of the app and puts nothing of its own there.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ._core import ASGIApp, Scope
from ._harness import RequestState, RunStatus

__all__ = ["LifespanStateMiddleware", "is_middleware"]

#: The key of the marker the middleware puts into a server's own lifespan dict.
_MARK = "lifespan_state.middleware.run"

#: What the app sends when its run is over (a failed startup ends it too).
_ENDS = frozenset({"lifespan.shutdown.complete", "lifespan.shutdown.failed", "lifespan.startup.failed"})

_HOW = (
    "Requests see the lifespan's state only while its run is on, between lifespan.startup and "
    "lifespan.shutdown."
)


class _Run:
    """One lifespan run: its dict, and where it is."""

    __slots__ = ("state", "status")

    def __init__(self) -> None:
        self.state: Dict[str, Any] = {}
        self.status = RunStatus("app", _HOW)  # "the lifespan run of this app has ended"

    @property
    def running(self) -> bool:
        return self.status.phase == "running"

    def request_state(self) -> Dict[str, Any]:
        """What a request of this run gets: a shallow copy while it runs, an empty state that
        explains itself once it has ended (or never started)."""
        if self.status.phase == "running":
            return self.state.copy()
        return RequestState({}, self.status)


#: The run of requests a server makes before (or without) any lifespan: the app does not run one.
_NO_LIFESPAN = _Run()
_NO_LIFESPAN.status.phase = "unsupported"
_NO_LIFESPAN.status.detail = "no lifespan run reached it"


class LifespanStateMiddleware:
    """The app with the ASGI spec's lifespan state, whatever the server does (module docstring)."""

    __slots__ = ("__weakref__", "_latest", "app")
    #: Read by the shim (``_core.owns_runs``): where this is in front, it adds nothing.
    _lifespan_state_owns_runs = True

    def __new__(cls, app: ASGIApp) -> LifespanStateMiddleware:
        # Wrapped twice is wrapped once: the same object, no second layer of copies.
        return app if isinstance(app, LifespanStateMiddleware) else super().__new__(cls)

    def __init__(self, app: ASGIApp) -> None:
        if app is self:
            return  # __new__ handed back the middleware it was given
        self.app = app
        self._latest: _Run = _NO_LIFESPAN

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        # async def, not a plain callable: servers detect ASGI 3 by inspecting __call__.
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            scope["state"] = self._run_of(scope.get("state")).request_state()
            await self.app(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _run_of(self, given: Any) -> _Run:
        if isinstance(given, dict):
            run = given.get(_MARK)
            if isinstance(run, _Run):
                return run
        return self._latest

    async def _lifespan(self, scope: Scope, receive: Any, send: Any) -> None:
        run = _Run()
        native: Optional[Dict[str, Any]] = scope.get("state")
        if isinstance(native, dict):
            native[_MARK] = run  # travels with the server's copies into its request scopes
        self._latest = run
        status = run.status

        async def watched(message: Dict[str, Any]) -> None:
            kind = message.get("type")
            if kind == "lifespan.startup.complete":
                status.phase = "running"
            elif kind in _ENDS:
                status.phase = "ended"
            await send(message)

        try:
            await self.app(dict(scope, state=run.state), receive, watched)
        except BaseException as exc:
            if status.phase == "not started":  # the app does not run the lifespan (S8)
                status.phase = "unsupported"
                status.detail = f"it raised {type(exc).__name__} on the lifespan scope"
            else:
                status.phase = "ended"
            raise
        else:
            if status.phase != "ended":
                status.phase = "ended" if status.phase == "running" else "unsupported"
                status.detail = status.detail or "it returned from the lifespan scope"

    def __repr__(self) -> str:
        return f"<LifespanStateMiddleware app={self.app!r}>"


def is_middleware(app: Any) -> bool:
    """True when ``app`` is a :class:`LifespanStateMiddleware`."""
    return isinstance(app, LifespanStateMiddleware)
