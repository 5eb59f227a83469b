"""The toy server's hook code: one StateApp in front of each ``Server``'s app."""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

from lifespan_state._core import put_in_front
from lifespan_state._shim import Decision, Shim, Target

from . import INTEGRATION


def has_state() -> bool:
    """Probe: the toy server never puts ``state`` into a scope."""
    import toyserver

    return "state" in toyserver.Server.serve.__code__.co_consts


def _server_init(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    result = wrapped(*args, **kwargs)
    put_in_front(instance, "app", instance)  # this run's own namespace: instance.state
    return result


class ToyShim(Shim):
    integration = INTEGRATION

    def targets(self, decision: Decision) -> Sequence[Target]:
        import toyserver

        return [(toyserver.Server, "__init__", _server_init)]


SHIM = ToyShim()
