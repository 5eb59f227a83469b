"""The state semantics, server-agnostic (CONFORMANCE.md S1-S11 live here and nowhere else).

One :class:`StateApp` exists per server run. It sits in front of the application the server
calls and owns that run's lifespan namespace:

* the ``lifespan`` scope gets the namespace itself (the very dict the app fills at startup and
  reads again at shutdown);
* every ``http`` and ``websocket`` scope gets a fresh shallow copy of the namespace *as it is at
  the moment the scope is handed to the app* — so keys the lifespan adds later are seen by later
  requests, and nothing one request writes is seen by another;
* a native server's own ``scope["state"]`` on a request is replaced (that is how the per-connection
  copies of uvicorn 0.21.0 and hypercorn 0.17.x are fixed), while a native lifespan dict is adopted
  so that the server's own notion of "the lifespan state" and ours are one object.

This module imports no server. Shims decide *where* a StateApp goes; this decides *what* it does.
"""

from __future__ import annotations

from types import FunctionType
from typing import Any, Awaitable, Callable, Dict, MutableMapping, Optional

__all__ = ["ASGIApp", "Scope", "StateApp", "owns_runs", "put_in_front", "state_app_of", "unwrap_state_app"]

Scope = MutableMapping[str, Any]
#: Any ASGI-3 style callable. hypercorn >= 0.14 calls its wrapped app with extra positional
#: arguments (``sync_spawn``, ``call_soon``); StateApp passes whatever it receives through.
ASGIApp = Callable[..., Awaitable[None]]


#: Marks an argument the server did not pass (an ASGI 2 server calls ``app(scope)`` alone).
_ABSENT: Any = object()


class StateApp:
    """Wrap ``app`` so every scope of one server run gets lifespan state per the ASGI spec."""

    # __slots__ keeps the per-scope attribute lookups to a slot read; the hot path below does
    # one dict lookup for the type, one copy, one call.
    __slots__ = ("__weakref__", "app", "lifespan_seen", "state")

    def __init__(self, app: ASGIApp, state: Optional[Dict[str, Any]] = None) -> None:
        self.app = app
        #: This run's lifespan namespace. A new run creates a new StateApp, hence a new dict.
        self.state: Dict[str, Any] = {} if state is None else state
        self.lifespan_seen = False

    def __call__(
        self, scope: Scope, receive: Any = _ABSENT, send: Any = _ABSENT, *more: Any
    ) -> Awaitable[None]:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            # A plain copy, never deepcopy: values (pools, locks, clients) are shared on purpose.
            scope["state"] = self.state.copy()
        elif kind == "lifespan":
            if self.lifespan_seen:
                # One lifespan scope per run: a second one means this object is being reused
                # for a new run (a uvicorn Config served again after deactivate() still holds
                # it). A new run starts empty and never sees the previous run's objects (S9).
                self.state = {}
            self.lifespan_seen = True
            native = scope.get("state")
            if native is None:
                scope["state"] = self.state
            elif native is not self.state:
                # The server made its own lifespan dict (0.21.0 / 0.17.x style): adopt it so
                # that code reading the server's dict (server.lifespan.state) and requests agree.
                self.state = native
        # Hand over the app's own awaitable: no extra coroutine frame on the hot path. Named
        # parameters instead of ``*args`` spare the ASGI 3 call (every uvicorn scope) two
        # argument tuples (about a quarter of the per-scope cost, BENCHMARKS.md); other shapes
        # get exactly what they passed: hypercorn >= 0.14 may add ``sync_spawn``/``call_soon``,
        # and an ASGI 2 app (hypercorn < 0.14) is called as ``app(scope)``.
        if more:
            return self.app(scope, receive, send, *more)
        if send is not _ABSENT:
            return self.app(scope, receive, send)
        if receive is _ABSENT:
            return self.app(scope)
        return self.app(scope, receive)

    def asgi3(self) -> ASGIApp:
        """This run as a plain function of exactly ``(scope, receive, send)``.

        For servers that always make the ASGI 3 call (uvicorn): CPython charges more for calling
        an object than a function, and this skips the argument-shape tests too, so a request
        costs a copy and two calls (BENCHMARKS.md, per scope). Lifespan scopes go through
        ``__call__``, so the semantics stay in one place.
        """
        app = self.app
        run = self

        def state_app(scope: Scope, receive: Any, send: Any) -> Awaitable[None]:
            kind = scope["type"]
            if kind == "http" or kind == "websocket":
                scope["state"] = run.state.copy()
                return app(scope, receive, send)
            return run(scope, receive, send)

        setattr(state_app, _RUN, self)  # how unwrap_state_app() recognises it
        return state_app

    def __repr__(self) -> str:
        return f"<StateApp keys={sorted(self.state)!r} app={self.app!r}>"


#: The attribute that ties a function made by StateApp.asgi3() to its StateApp.
_RUN = "__lifespan_state_run__"


def state_app_of(app: Any) -> Optional[StateApp]:
    """The StateApp behind ``app`` (itself, or the one an ``asgi3()`` function belongs to)."""
    if isinstance(app, StateApp):
        return app
    if isinstance(app, FunctionType):
        run = app.__dict__.get(_RUN)
        if isinstance(run, StateApp):
            return run
    return None


def unwrap_state_app(app: Any) -> Any:
    """The application inside ``app`` when ``app`` is one of ours, else ``app`` itself."""
    run = state_app_of(app)
    while run is not None:
        app = run.app
        run = state_app_of(app)
    return app


def owns_runs(app: Any) -> bool:
    """True when ``app`` keeps each run's state itself (``LifespanStateMiddleware``), also behind
    the server's own middleware layers (uvicorn's proxy-headers middleware, ASGI 2 adapters: the
    ``.app`` each of them holds): the shims then put nothing in front of it, so a request is
    copied once, by it."""
    for _ in range(16):  # a bounded walk: a chain of wrappers, never a cycle
        if getattr(type(app), "_lifespan_state_owns_runs", False):
            return True
        inner = getattr(app, "app", None)
        if inner is None or inner is app:
            return False
        app = inner
    return False


def put_in_front(holder: Any, attribute: str, keeper: Any) -> None:
    """One StateApp in front of the loaded app ``holder.<attribute>``, for one server run.

    Its namespace is ``keeper.state``, the server's own lifespan dict where the release has one
    ("fix"); a release without ("add") gets an empty dict there, so ``keeper.state`` then means
    what it means natively. Servers that always call ``app(scope, receive, send)`` get the
    cheaper function form; a run that starts again gets a fresh StateApp around the original
    app, not a second layer. A holder without a loaded app (a failed load: the server reports
    that itself), or whose app keeps its runs' state itself (:func:`owns_runs`), is left alone.
    """
    app = getattr(holder, attribute, None)
    if app is None or owns_runs(unwrap_state_app(app)):
        return
    state = getattr(keeper, "state", None)
    if not isinstance(state, dict):
        state = {}
        keeper.state = state
    setattr(holder, attribute, StateApp(unwrap_state_app(app), state).asgi3())
