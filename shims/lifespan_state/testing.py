"""Test an ASGI app with its lifespan state, as a server would run it: ``lifespan_client``.

httpx's ``ASGITransport`` never runs the lifespan, so an app that yields state from its lifespan
cannot be tested with it alone. :func:`lifespan_client` runs the lifespan, then yields an
``httpx.AsyncClient`` talking to the app in-process::

    from lifespan_state.testing import lifespan_client

    async def test_items() -> None:
        async with lifespan_client(app) as client:
            response = await client.get("/items")

The semantics are the ASGI spec's (``lifespan_state._core.StateApp``, the same object the server
shims use): what the lifespan stores is in every request, each request gets its own shallow copy of
the live dict (nothing one request writes reaches another), every ``async with`` is a new run that
starts empty, and ``lifespan.shutdown`` sees the dict with its keys. A lifespan that fails raises
:class:`LifespanStartupError` / :class:`LifespanShutdownError` carrying the app's message. Runs on
asyncio and trio (anyio). The pytest fixture ``lifespan_client`` (``lifespan_state.pytest_plugin``)
wraps it.

Needs an HTTP client: httpx (``pip install 'lifespan-state-shim[testing]'``) or httpx2, pydantic's
fork that Starlette prefers (``pip install 'lifespan-state-shim[httpx2]'``, Python >= 3.11); with
both installed, httpx2 is used, as Starlette's TestClient does. Importing this module imports
neither.
"""

from __future__ import annotations

import math
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator, Dict, Optional, Type

from ._core import ASGIApp, StateApp
from ._errors import LifespanStateError
from ._harness import MissingStateError, RunStatus, explaining

if TYPE_CHECKING:
    import httpx
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = [
    "LifespanError",
    "LifespanShutdownError",
    "LifespanStartupError",
    "MissingStateError",
    "http_client",
    "lifespan_client",
]

_HOW = "Make requests inside `async with lifespan_client(app) as client:`."


class LifespanError(LifespanStateError):
    """The app's lifespan failed; the message is the app's own (``lifespan.*.failed`` or its error)."""


class LifespanStartupError(LifespanError):
    """The lifespan failed, or did not finish, its startup: no request was made."""


class LifespanShutdownError(LifespanError):
    """The lifespan failed, or did not finish, its shutdown."""


#: The HTTP clients lifespan_client can use, in the order it prefers them.
CLIENTS = ("httpx2", "httpx")


def http_client() -> Any:
    """The first of :data:`CLIENTS` installed here (their APIs are the same); ImportError saying
    what to install when there is none."""
    import importlib

    for name in CLIENTS:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(
        "lifespan_state.testing needs an HTTP client, httpx or httpx2, and neither is installed: "
        "`pip install 'lifespan-state-shim[testing]'` (httpx) or `pip install "
        "'lifespan-state-shim[httpx2]'` (httpx2, Python >= 3.11)"
    )


def _requirements() -> Any:
    client = http_client()
    import anyio  # both clients depend on it

    return anyio, client


class _Lifespan:
    """One run of the app's lifespan scope, driven like a server drives it (ASGI lifespan 2.0)."""

    def __init__(self, app: StateApp, run: RunStatus, anyio: Any) -> None:
        self.app = app
        self.run = run
        self.anyio = anyio
        self._to_app: MemoryObjectSendStream[Dict[str, Any]]
        self._app_inbox: MemoryObjectReceiveStream[Dict[str, Any]]
        self._to_app, self._app_inbox = anyio.create_memory_object_stream(math.inf)
        # None from the app's side means "the app returned or raised".
        self._app_outbox: MemoryObjectSendStream[Optional[Dict[str, Any]]]
        self._from_app: MemoryObjectReceiveStream[Optional[Dict[str, Any]]]
        self._app_outbox, self._from_app = anyio.create_memory_object_stream(math.inf)
        self.received = False
        self.error: Optional[BaseException] = None

    async def serve(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:  # the app's failure is reported by startup()/shutdown()
            self.error = exc
        finally:
            await self._app_outbox.send(None)

    async def _receive(self) -> Dict[str, Any]:
        self.received = True
        return await self._app_inbox.receive()

    async def _send(self, message: Dict[str, Any]) -> None:
        await self._app_outbox.send(message)

    async def _reply(
        self, timeout: Optional[float], phase: str, error: Type[LifespanError]
    ) -> Optional[Dict[str, Any]]:
        try:
            with self.anyio.fail_after(timeout):
                return await self._from_app.receive()
        except TimeoutError:
            raise error(f"the app's lifespan did not finish its {phase} within {timeout} s") from None

    async def _app_message(self, message: Dict[str, Any], timeout: Optional[float]) -> str:
        """The app's text of a ``*.failed`` message, after letting the app end (it usually raises)."""
        text = str(message.get("message", ""))
        await self._reply(timeout, "failure", LifespanError)
        return text or (repr(self.error) if self.error else "(the app gave no message)")

    async def startup(self, timeout: Optional[float]) -> None:
        await self._to_app.send({"type": "lifespan.startup"})
        message = await self._reply(timeout, "startup", LifespanStartupError)
        if message is None:
            if self.error is not None and self.received:
                raise LifespanStartupError(
                    f"the app's lifespan startup raised {type(self.error).__name__}: {self.error}"
                ) from self.error
            # The app raised before receive() or returned at once: it has no lifespan. As on a
            # server, requests are served anyway, with an empty state (CONFORMANCE.md S8).
            self.run.phase = "unsupported"
            self.run.detail = (
                f"it raised {type(self.error).__name__}: {self.error} on the lifespan scope"
                if self.error is not None
                else "it returned from the lifespan scope at once"
            )
            return
        if message["type"] == "lifespan.startup.failed":
            text = await self._app_message(message, timeout)
            raise LifespanStartupError(f"the app's lifespan startup failed: {text}") from self.error
        if message["type"] != "lifespan.startup.complete":
            raise LifespanStartupError(f"the app sent {message['type']!r} during lifespan startup")
        self.run.phase = "running"

    async def shutdown(self, timeout: Optional[float]) -> None:
        if self.run.phase != "running":
            return
        self.run.phase = "ended"
        await self._to_app.send({"type": "lifespan.shutdown"})
        message = await self._reply(timeout, "shutdown", LifespanShutdownError)
        if message is None:
            if self.error is not None:
                raise LifespanShutdownError(
                    f"the app's lifespan shutdown raised {type(self.error).__name__}: {self.error}"
                ) from self.error
            raise LifespanShutdownError("the app's lifespan returned without lifespan.shutdown.complete")
        if message["type"] == "lifespan.shutdown.failed":
            text = await self._app_message(message, timeout)
            raise LifespanShutdownError(f"the app's lifespan shutdown failed: {text}") from self.error
        if message["type"] != "lifespan.shutdown.complete":
            raise LifespanShutdownError(f"the app sent {message['type']!r} during lifespan shutdown")
        await self._reply(timeout, "shutdown", LifespanShutdownError)  # the app returns


@asynccontextmanager
async def lifespan_client(
    app: ASGIApp,
    *,
    base_url: str = "http://testserver",
    startup_timeout: Optional[float] = 5.0,
    shutdown_timeout: Optional[float] = 5.0,
    **client_options: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan and yield an ``httpx.AsyncClient`` (httpx2's, where it is installed)
    whose requests go to ``app``.

    Each request gets a fresh shallow copy of the lifespan dict as it is at that moment; each
    ``async with`` is a new lifespan run with a new, empty dict; ``lifespan.shutdown`` runs when
    the block ends (also when it raises) and sees the dict. ``client_options`` go to
    ``httpx.AsyncClient`` (``headers``, ``cookies``, ``follow_redirects``, ...).

    Raises :class:`LifespanStartupError` / :class:`LifespanShutdownError` with the app's message
    when its lifespan fails, or does not finish within the timeouts (None: wait forever). A request
    that reads a key the lifespan did not store raises :class:`MissingStateError` naming it.
    """
    anyio, httpx = _requirements()
    run = RunStatus("lifespan_client", _HOW)
    state_app = StateApp(explaining(app, run))
    lifespan = _Lifespan(state_app, run, anyio)
    # Errors are raised after the task group has closed: inside it anyio would wrap them (and a
    # failing assertion of the test's own) in an ExceptionGroup.
    error: Optional[Exception] = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lifespan.serve)
        try:
            await lifespan.startup(startup_timeout)
        except Exception as exc:
            error = exc
        else:
            try:
                transport = httpx.ASGITransport(app=state_app)
                async with httpx.AsyncClient(
                    transport=transport, base_url=base_url, **client_options
                ) as client:
                    yield client
            except Exception as exc:
                error = exc
            try:
                await lifespan.shutdown(shutdown_timeout)
            except Exception as exc:
                # As a `with` block whose exit fails: the shutdown error, the test's as its context.
                exc.__context__ = error
                error = exc
        tasks.cancel_scope.cancel()
    if error is not None:
        raise error
