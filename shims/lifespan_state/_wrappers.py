"""What the hypercorn shim puts in hypercorn's call path: the per-run app, and the middleware fixes.

Kept apart from ``hypercorn.py`` (which decides *where* and *when* to wrap) so that each piece
here can be read against the hypercorn code it answers. Nothing here imports hypercorn; the one
hypercorn function used (``_is_asgi_2`` of releases before 0.14) is passed in by the shim.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from ._core import ASGIApp, Scope, StateApp

__all__ = [
    "MOUNTS_KEY",
    "AsyncStateApp",
    "SharedOnDeepcopy",
    "dispatcher_call",
    "make_state_app",
    "proxy_fix_call",
]


class AsyncStateApp(StateApp):
    """A StateApp that ``inspect.iscoroutinefunction`` reports as ASGI 3.

    hypercorn before 0.14 calls the very object it was given through ``invoke_asgi``, which picks
    ASGI 2 or 3 by inspecting it: a plain StateApp (a sync ``__call__``) reads as ASGI 2 and
    would be called with the scope alone. For an ASGI 3 app we therefore hand over this
    subclass; an ASGI 2 app keeps the plain StateApp, whose ``__call__(scope)`` returns the app's
    own instance exactly as ASGI 2 wants.
    """

    __slots__ = ()

    async def __call__(self, scope: Scope, *args: Any) -> None:  # type: ignore[override]
        await StateApp.__call__(self, scope, *args)


class SharedOnDeepcopy(Dict[str, Any]):
    """A request's state that ``copy.deepcopy`` turns into a plain *shallow* copy.

    ``ProxyFixMiddleware`` (hypercorn 0.16 - 0.18) does ``scope = deepcopy(scope)`` for every
    request: a lock, a pool or a client in the state then fails every request ("cannot pickle"),
    and whatever does copy is no longer the lifespan's object. The spec wants a *shallow* copy of
    the namespace per request; with this type in the scope, the deep copy of the scope hands the
    app behind the middleware exactly that — a plain dict holding the lifespan's very objects.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: Dict[int, Any]) -> Dict[str, Any]:
        return dict(self)

    def __reduce__(self) -> Tuple[Any, ...]:
        # Pickled (not deep-copied) it is an ordinary dict again.
        return (dict, (dict(self),))


def proxy_fix_call(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """wrapt wrapper of ``ProxyFixMiddleware.__call__``: keep the state out of its deep copy."""
    scope = args[0] if args else kwargs.get("scope")
    # Only the scopes ProxyFix deep-copies; the lifespan scope must keep the namespace itself.
    if isinstance(scope, dict) and scope.get("type") in ("http", "websocket"):
        state = scope.get("state")
        # Exactly dict (what the server or StateApp put there); anything else is not ours to
        # change. A nested ProxyFix gets the plain dict the outer one produced, and wraps again.
        if type(state) is dict:
            scope["state"] = SharedOnDeepcopy(state)
    # The deep copy happens when the returned coroutine first runs, which its caller awaits
    # right away; the scope holds the safe dict by then.
    return wrapped(*args, **kwargs)


#: Where a DispatcherMiddleware keeps its mounts' namespaces inside its own (the server's) state
#: dict. Requests carry a shallow copy of that dict, hence the same per-mount namespaces: that is
#: how a request finds the namespace of the run it belongs to. Mounted apps never see this key.
MOUNTS_KEY = "lifespan_state.dispatcher_mounts"


def _mount_lifespan_app(
    app: Any, namespace: Dict[str, Any], is_asgi2: Optional[Callable[[Any], bool]]
) -> Any:
    """``app`` seeing ``namespace`` as its lifespan state (the server's scope stays untouched)."""
    if is_asgi2 is not None and is_asgi2(app):
        # hypercorn < 0.14 calls mounts through invoke_asgi, which inspects what it calls:
        # an ASGI 2 mount needs a sync callable returning the app's instance.
        def mount_asgi2(scope: Scope) -> Any:
            own = dict(scope)
            own["state"] = namespace
            return app(own)

        return mount_asgi2

    async def mount(scope: Scope, receive: Any, send: Any) -> None:
        own = dict(scope)
        own["state"] = namespace
        await app(own, receive, send)

    return mount


def dispatcher_call(
    is_asgi2: Optional[Callable[[Any], bool]],
) -> Callable[[Any, Any, Tuple[Any, ...], Dict[str, Any]], Any]:
    """wrapt wrapper of ``_DispatcherMiddleware.__call__``: one namespace per mounted app.

    hypercorn hands its one lifespan scope to every mounted app, so all mounts would write into
    one dict and each would see the others' keys. At the lifespan scope the wrapper creates one
    namespace per mount (kept under :data:`MOUNTS_KEY` in the dispatcher's own state) and runs
    the original lifespan handling on a shallow clone of the dispatcher whose mounts see their
    own namespace. A request routed to a mount (same first-prefix-wins rule as hypercorn) gets a
    fresh shallow copy of that mount's namespace as it is now.
    """

    def wrapper(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        scope = args[0] if args else kwargs.get("scope")
        state = scope.get("state") if isinstance(scope, dict) else None
        mounts = getattr(instance, "mounts", None)
        if not isinstance(state, dict) or not isinstance(mounts, Mapping):
            return wrapped(*args, **kwargs)
        kind = scope["type"]  # type: ignore[index]
        if kind == "lifespan":
            namespaces: Dict[str, Dict[str, Any]] = {path: {} for path in mounts}
            state[MOUNTS_KEY] = namespaces
            # A clone, not the instance: the same dispatcher may serve two runs at once, and
            # requests only ever read ``mounts`` (never what the lifespan handling stores).
            clone = copy.copy(instance)
            clone.mounts = {
                path: _mount_lifespan_app(app, namespaces[path], is_asgi2)
                for path, app in mounts.items()
            }
            function = getattr(wrapped, "__func__", None)
            if function is None:  # pragma: no cover - wrapt always hands a bound method here
                return wrapped(*args, **kwargs)
            return function(clone, *args, **kwargs)
        found = state.get(MOUNTS_KEY)
        if isinstance(found, dict):
            path_now = scope.get("path", "")  # type: ignore[union-attr]
            for path in mounts:
                if path_now.startswith(path):
                    namespace = found.get(path)
                    scope["state"] = namespace.copy() if namespace is not None else {}  # type: ignore[index]
                    break
        return wrapped(*args, **kwargs)

    return wrapper


def make_state_app(app: ASGIApp, is_asgi2: Optional[Callable[[Any], bool]]) -> StateApp:
    """This run's StateApp in the shape hypercorn expects (see :class:`AsyncStateApp`)."""
    if is_asgi2 is None or is_asgi2(app):
        return StateApp(app)
    return AsyncStateApp(app)
