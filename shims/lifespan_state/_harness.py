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

Every harness shim wraps the same three hook points of its harness class
(:func:`harness_targets`): the constructor, which makes the object's :class:`RunStatus`
(:func:`follow`), the method that starts a lifespan run and the one that ends it, which move its
phase.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from ._core import ASGIApp, Scope
from ._errors import LifespanStateError

if TYPE_CHECKING:  # lifespan_state.testing imports this module: not wrapt with it
    from ._patching import Wrapper

__all__ = [
    "MissingStateError",
    "RequestState",
    "RunStatus",
    "explaining",
    "follow",
    "harness_targets",
    "run_targets",
]

#: Where a patched harness object keeps its RunStatus.
_RUN = "_lifespan_state_run"


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
        return f"lifespan state has no key {key!r}: {self._cause(stored)}"

    def _cause(self, stored: Dict[str, Any]) -> str:
        if self.phase == "running":
            keys = ", ".join(repr(k) for k in sorted(stored, key=str)) or "nothing"
            return f"the app's lifespan stored {keys}"
        if self.phase == "unsupported":
            return f"the app did not run a lifespan ({self.detail}), so requests get an empty state"
        if self.phase == "ended":
            return (
                f"the lifespan run of this {self.harness} has ended, so none of its objects are in "
                f"the request (they may be closed already). {self.how}"
            )
        return (
            f"the lifespan of this {self.harness} has not run, so nothing it stores is in the request. "
            f"{self.how}"
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
    request without any state gets an empty one, as Starlette would make it. A request after
    the run has ended (a client used again after its ``with`` block) gets an empty one too: the
    ended run's objects (a pool bound to a closed event loop) must not reach it (CONFORMANCE S13).
    """

    async def explaining_app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            state: Optional[Dict[str, Any]] = scope.get("state")
            if state is None or run.phase == "ended":
                state = {}
            scope["state"] = RequestState(state, run)
        await app(scope, receive, send)

    explaining_app.__wrapped__ = app  # type: ignore[attr-defined]
    return explaining_app


def follow(harness: Any, name: str, how: str) -> RunStatus:
    """A new :class:`RunStatus` kept on the harness object ``harness`` (called by its constructor)."""
    run = RunStatus(name, how)
    harness.__dict__[_RUN] = run
    return run


def _run_of(harness: Any) -> Optional[RunStatus]:
    # None for an object made before activation (or by a subclass that skipped our constructor).
    run = getattr(harness, "__dict__", {}).get(_RUN)
    return run if isinstance(run, RunStatus) else None


def _set_phase(harness: Any, phase: str) -> None:
    run = _run_of(harness)
    if run is not None:
        run.phase = phase


def _awaitable(result: Any) -> bool:
    import inspect  # only once a harness runs: lifespan_state.testing imports this module

    return inspect.isawaitable(result)


async def _then_running(awaitable: Any, harness: Any) -> Any:
    result = await awaitable
    _set_phase(harness, "running")
    return result


async def _then_ended(awaitable: Any, harness: Any) -> Any:
    try:
        return await awaitable
    finally:
        _set_phase(harness, "ended")


def _starts_run(before: Optional[Callable[[Any], None]]) -> Wrapper:
    def starts_run(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        if before is not None:
            before(instance)
        result = wrapped(*args, **kwargs)
        if _awaitable(result):  # an async start (LifespanManager.startup)
            return _then_running(result, instance)
        _set_phase(instance, "running")
        return result

    return starts_run


def _ends_run(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    try:
        result = wrapped(*args, **kwargs)
    except BaseException:
        _set_phase(instance, "ended")
        raise
    if _awaitable(result):  # an async end (LifespanManager.shutdown)
        return _then_ended(result, instance)
    _set_phase(instance, "ended")
    return result


def run_targets(
    owner: type, start: str, end: str, before_start: Optional[Callable[[Any], None]] = None
) -> List[Tuple[Any, str, Wrapper]]:
    """The wraps that make a harness object's run phase follow ``start`` and ``end`` (sync or async
    methods of ``owner``); ``before_start(harness)`` runs first thing in ``start``."""
    return [(owner, start, _starts_run(before_start)), (owner, end, _ends_run)]


def harness_targets(
    owner: type, init: Wrapper, start: str, end: str, before_start: Optional[Callable[[Any], None]] = None
) -> List[Tuple[Any, str, Wrapper]]:
    """The wraps of a harness class: ``__init__`` by ``init`` (which calls :func:`follow`),
    ``start`` and ``end`` (sync or async methods) so that the run's phase follows them;
    ``before_start(harness)`` runs first thing in ``start`` (a fresh dict for the new run)."""
    return [(owner, "__init__", init), *run_targets(owner, start, end, before_start)]
