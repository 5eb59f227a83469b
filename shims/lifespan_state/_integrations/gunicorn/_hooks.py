"""gunicorn's hook code: lifespan state for gunicorn's native ASGI worker (``gunicorn -k asgi``).

Modes (the descriptor's ranges, confirmed by the probes :func:`has_state` and
:func:`hands_out_copies`):

* fix (24.0.0 - 26.2.0): the worker keeps one ``self.state`` dict, gives it to the lifespan, and
  ``ASGIProtocol`` puts *that very dict* into every HTTP/1.1, WebSocket and HTTP/2 scope
  (``scope["state"] = self.worker.state``: two sites in 24.0.0, three in 26.x). Whatever one
  request writes, every later request of the worker sees, and the lifespan dict collects it. We
  hand each request its own copy of the live dict.
* native (27.0.0 and later): every site copies (``self.worker.state.copy()``); nothing is wrapped.

The probe reads ``ASGIProtocol``'s code: a build whose every ``self.worker.state`` load is followed
by ``.copy()`` is native whatever its version says (a distribution's backport of 27.0.0's fix),
one that hands the dict itself is fixed. gunicorn's other workers are not ours: ``UvicornWorker``
runs uvicorn's protocols (the uvicorn shim's business), the WSGI workers have no ASGI scopes. The
registry loads this module only when ``gunicorn.workers.gasgi`` is imported, so a gunicorn
without the ASGI worker (< 24.0.0) or a deployment using another worker class is never touched.

The one hook point is ``ASGIWorker.run`` (same name and ``(self)`` signature in 24.0.0 - 27.0.1;
it is the method every gunicorn worker class implements, called by ``Worker.init_process`` once
the app is loaded). Every consumer of the app reads ``worker.asgi`` *after* ``run`` starts: the
``LifespanManager`` is built in ``_serve`` and each ``ASGIProtocol`` copies ``worker.asgi`` when a
connection is made. Wrapping it puts one :class:`~lifespan_state._core.StateApp` around
``worker.asgi`` per worker process, whose namespace is ``worker.state`` itself (so
``worker.state`` keeps meaning "the lifespan state"), and which replaces the shared dict on every
request scope with a fresh copy. Rejected alternatives: ``ASGIWorker.load_wsgi`` runs *before* the
app module is imported, so an app that activates the shim itself (``import lifespan_state.auto``)
would miss it; ``LifespanManager.__init__`` is never called with ``--asgi-lifespan off``, yet
requests still share ``worker.state`` then; the scope builders (``_build_http_scope`` and
friends) are private, their number changed between releases (2 -> 3) and they run per request.
A subclass of ``ASGIWorker`` whose ``run`` never calls ``ASGIWorker.run`` is not reached.
"""

from __future__ import annotations

from types import FrameType
from typing import Any, Dict, Optional, Sequence, Tuple

from ..._code_probes import attribute_chains, names
from ..._core import put_in_front
from ..._late import RunMarkers
from ..._shim import Decision, Shim, Target
from . import INTEGRATION

__all__ = ["SHIM", "GunicornShim", "hands_out_copies", "has_state"]


def hands_out_copies() -> Optional[bool]:
    """Probe: does every request scope get ``self.worker.state.copy()`` (27.0.0+)?

    True when each load of ``worker.state`` in ``ASGIProtocol`` is copied, False when one hands
    the dict itself (24.0.0 - 26.2.0), None when there is no such load at all (the code moved:
    we cannot tell, and fixing a correct server is harmless).
    """
    from gunicorn.asgi.protocol import ASGIProtocol

    sites = 0
    for value in vars(ASGIProtocol).values():
        for chain in attribute_chains(value):
            for i in range(len(chain) - 1):
                if chain[i] == "worker" and chain[i + 1] == "state":
                    sites += 1
                    if i + 2 >= len(chain) or chain[i + 2] != "copy":
                        return False
    return True if sites else None


def _run(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """wrapt wrapper of ``ASGIWorker.run``: the app is loaded, nothing has read it yet."""
    if SHIM.active:
        # This worker process's StateApp, whose namespace is worker.state itself.
        put_in_front(instance, "asgi", instance)
    return wrapped(*args, **kwargs)


def _worker_started(frame: FrameType) -> bool:
    # run/_serve/_shutdown hold the app already; init_process and load_wsgi (an app module
    # activating while gunicorn imports it) are in time.
    return frame.f_code.co_name in ("run", "_serve", "_shutdown")


def has_state() -> bool:
    """Probe: the worker keeps lifespan state (``self.state`` in ``ASGIWorker.__init__``)."""
    from gunicorn.workers.gasgi import ASGIWorker

    return "state" in names(vars(ASGIWorker)["__init__"])


class GunicornShim(Shim):
    """gunicorn's ``ASGIWorker``: one StateApp per worker process (see the module docstring)."""

    integration = INTEGRATION
    late = RunMarkers(
        gates=("gunicorn.asgi.protocol",),
        frames={"gunicorn.workers.gasgi": _worker_started, "gunicorn.asgi.": None},
    )

    def targets(self, decision: Decision) -> Sequence[Target]:
        from gunicorn.workers.gasgi import ASGIWorker

        return [(ASGIWorker, "run", _run)]


SHIM = GunicornShim()
