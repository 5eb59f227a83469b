"""granian's hook code: the lifespan state kept intact until the app's shutdown code has run.

granian is a Rust server with its Python glue in ``granian/asgi.py``. From 1.0.0 on, requests are
right: ``_callback_wrapper`` gives every HTTP and WebSocket scope ``state.copy()`` of the live
lifespan dict. One thing is wrong, in every release up to the newest (2.8.9):

* fix (1.0.0 and later): ``LifespanProtocol.shutdown()`` calls ``self.state.clear()`` *before* it
  sends ``lifespan.shutdown``, so the app's shutdown code finds an empty dict where its pools and
  clients were (CONFORMANCE S10) and cannot close them. We keep the dict intact until the app
  has answered ``lifespan.shutdown``, and empty it then, as granian means to.

Not a state bug, and beyond a Python wrap: granian 2.0 - 2.7 on asyncio's event loop (their
default since uvloop became the ``granian[uvloop]`` extra) deadlock at about every other worker
stop, before ``lifespan.shutdown`` is sent, with or without the shim (granian issue #875: the
worker's main thread drops the tokio runtime holding the GIL a runtime thread is waiting for).
Shutdown code does not run then at all. uvloop (``--loop auto`` picks it) and 2.8 avoid it.

The probe :func:`keeps_state` reads ``LifespanProtocol.shutdown``'s code: a release that no
longer empties the state before it queues ``lifespan.shutdown`` (upstream fixed it, or a
distribution patched it) is native whatever its version says, and nothing is wrapped. A build
without lifespan state (granian < 1.0 behaviour) is refused: adding state to its Rust request path
is beyond a Python wrap (the descriptor says ``without_state="unsupported"``).
``--interface asginl`` runs no lifespan (there is no state to keep); RSGI and WSGI never reach
this code.

The one hook point is ``LifespanProtocol.shutdown`` (same class, module and ``(self)``
signature from 1.0 to 2.8.9), wrapped on the class in place: granian's three server flavours
(``server.mp`` worker processes, ``server.mt`` worker threads, ``server.embed``) import the
class by name and call ``shutdown()`` on their instance, so one class-level wrap reaches all of
them. The wrapper lends granian a stand-in dict to empty, awaits the original shutdown (the app's
lifespan scope still holds the real dict, full), then puts the real dict back and empties it.
Requests are untouched: their per-request copies come from the dict ``_callback_wrapper``
captured when the worker started, which is the same real dict. Rejected alternatives: replacing
``self.state`` with a dict subclass whose ``clear()`` is deferred (changes the type the app sees
in its scope); rewriting ``shutdown()`` (a copy of granian's code to keep in step with every
release); ``_callback_wrapper`` (requests are already right there, and the server modules import
it by name). Because granian reads the class attribute when shutdown starts, activation is in
time until then — even from a request handler — so there is no too-late warning to give.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

from ..._code_probes import attribute_chains, names
from ..._shim import Decision, Shim, Target
from . import INTEGRATION

__all__ = ["SHIM", "GranianShim", "has_state", "keeps_state"]


def _empties_state_first() -> Optional[bool]:
    """Probe: does ``LifespanProtocol.shutdown`` empty ``self.state`` before queueing the event?

    True for 1.0.0 - 2.8.9 (``self.state.clear()`` is its first statement), False when the clear
    comes after the ``event_queue.put`` or is gone, None when the method cannot be read.
    """
    from granian.asgi import LifespanProtocol

    chains = attribute_chains(vars(LifespanProtocol).get("shutdown"))
    if not chains:
        return None
    clear = next((i for i, chain in enumerate(chains) if chain[-2:] == ("state", "clear")), None)
    put = next((i for i, chain in enumerate(chains) if chain[-1:] == ("put",)), None)
    if clear is None:
        return False
    return put is None or clear < put


def keeps_state() -> Optional[bool]:
    """Probe (``copies``): the state is intact until the app has handled lifespan.shutdown."""
    empties = _empties_state_first()
    return None if empties is None else not empties


def has_state() -> bool:
    """Probe: the lifespan keeps state (``self.state`` in ``LifespanProtocol.__init__``)."""
    from granian.asgi import LifespanProtocol

    return "state" in names(vars(LifespanProtocol)["__init__"])


async def _shutdown_keeping_state(
    wrapped: Any, protocol: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]
) -> Any:
    state = protocol.__dict__.get("state")
    if not isinstance(state, dict):
        return await wrapped(*args, **kwargs)
    # granian empties ``self.state`` first thing: let it empty a stand-in, so the dict in the
    # app's lifespan scope is still full while the app handles lifespan.shutdown.
    protocol.state = {}
    try:
        return await wrapped(*args, **kwargs)
    finally:
        protocol.state = state
        state.clear()  # what granian meant to do, now that the app is done with it


def _shutdown(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """wrapt wrapper of ``LifespanProtocol.shutdown`` (a coroutine function)."""
    if not SHIM.active or instance is None:
        return wrapped(*args, **kwargs)
    return _shutdown_keeping_state(wrapped, instance, args, kwargs)


class GranianShim(Shim):
    """granian's ``LifespanProtocol``: S10 (see the module docstring)."""

    integration = INTEGRATION

    def targets(self, decision: Decision) -> Sequence[Target]:
        from granian.asgi import LifespanProtocol

        return [(LifespanProtocol, "shutdown", _shutdown)]


SHIM = GranianShim()
