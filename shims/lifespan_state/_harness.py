"""What the test harnesses share: a request's state that names the key a test forgot to provide.

A test that reads ``request.state.pool`` when no lifespan ran (a ``TestClient`` used without
``with``, a ``LifespanManager`` never entered, a request after the run ended) gets Starlette's bare
``'State' object has no attribute 'pool'`` — or, with state kept on the app, an object bound to the
previous test's event loop. The harnesses hand such requests a :class:`RequestState` instead: the
same shallow copy, but a missing key raises :class:`MissingStateError` saying which key, what the
lifespan did store, and what to do. Starlette catches the ``KeyError`` and raises its own
``AttributeError`` from it, so the message is the first one in the traceback.

The state semantics stay in ``_core.StateApp``; this only puts the copy it made in a dict that
explains itself, and only for the test harnesses (servers hand requests plain dicts).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ._core import ASGIApp, Scope
from ._errors import LifespanStateError

__all__ = ["MissingStateError", "RequestState", "RunStatus", "explaining"]


class MissingStateError(LifespanStateError, KeyError):
    """A request read a state key that the lifespan run behind it never stored.

    A ``KeyError`` (so ``dict`` code keeps working) whose text names the key and the cause.
    """

    def __init__(self, key: object, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return self.message


class RunStatus:
    """Where a harness's lifespan run is, for the message of a missing key.

    ``harness`` names the tool (``"TestClient"``) and ``how`` says how to run the lifespan with it.
    """

    __slots__ = ("detail", "harness", "how", "phase")

    def __init__(self, harness: str, how: str) -> None:
        self.harness = harness
        self.how = how
        #: "not started", "running", "unsupported" (the app declined the lifespan) or "ended".
        self.phase = "not started"
        self.detail = ""

    def explain(self, key: object, stored: Dict[str, Any]) -> str:
        keys = ", ".join(repr(k) for k in sorted(stored, key=str)) or "nothing"
        if self.phase == "running":
            return f"lifespan state has no key {key!r}: the app's lifespan stored {keys}"
        if self.phase == "unsupported":
            return (
                f"lifespan state has no key {key!r}: the app did not run a lifespan "
                f"({self.detail}), so requests get an empty state"
            )
        when = "has ended" if self.phase == "ended" else "has not run"
        return (
            f"lifespan state has no key {key!r}: the lifespan of this {self.harness} {when}, so "
            f"nothing it stores is in the request. {self.how}"
        )


class RequestState(Dict[str, Any]):
    """A request's shallow copy of the lifespan state whose missing keys explain themselves."""

    __slots__ = ("_run",)

    def __init__(self, state: Dict[str, Any], run: RunStatus) -> None:
        super().__init__(state)
        self._run = run

    def __missing__(self, key: str) -> Any:
        raise MissingStateError(key, self._run.explain(key, self))


def explaining(app: ASGIApp, run: RunStatus) -> ASGIApp:
    """``app`` with each request's ``scope["state"]`` put into a :class:`RequestState`.

    Goes *inside* the StateApp (which made the copy) or behind a harness that copies itself; a
    request without any state gets an empty one, as Starlette would make it.
    """

    async def explaining_app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            state: Optional[Dict[str, Any]] = scope.get("state")
            scope["state"] = RequestState(state if state is not None else {}, run)
        await app(scope, receive, send)

    explaining_app.__wrapped__ = app  # type: ignore[attr-defined]
    return explaining_app
