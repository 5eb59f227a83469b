"""Client protocols the checks run over besides HTTP/1.1 and its WebSocket: a small registry.

HTTP/1.1 keep-alive and WebSocket-over-HTTP/1.1 are always checked. Every other protocol is a
:class:`Transport` in :data:`TRANSPORTS`, named as ``ServerBuilder.transports()`` names it; the
checks use it where a configuration lists it and its client library is importable here:

* ``sequence(session, targets)``: the targets one after another on *one* connection (S5: the first
  writes a key and replaces ``obj``; the next must not see either);
* ``concurrent(session, targets)``: all targets at once on one connection (S11);
* ``websocket(session, key)``: open a WebSocket, return ``{"first": view, "written": view}`` after
  sending ``write <key>`` (S6).

Each returns the probe's JSON views. A new protocol (HTTP/3, WebSocket over HTTP/2) is one
:func:`register_transport` call in the module that holds its client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from ._h1 import HTTP1Connection
from ._h2 import HTTP2Connection, h2_available
from ._servers import LaunchContext

__all__ = ["TRANSPORTS", "Session", "Transport", "register_transport"]

Json = Dict[str, Any]


class Session:
    """The client side of one server run: what a transport needs to reach the server."""

    def __init__(self, ctx: LaunchContext, timeout: float) -> None:
        self.ctx = ctx
        self.timeout = timeout

    def connect(self) -> HTTP1Connection:
        return HTTP1Connection(self.ctx.host, self.ctx.port, timeout=self.timeout)

    def get(self, target: str) -> Json:
        """One HTTP/1.1 request on a fresh connection; the probe's view."""
        with self.connect() as conn:
            return ok_json(conn.get(target))

    def h2(self) -> HTTP2Connection:
        """An HTTP/2 connection: over TLS when the launch left a ``ca_file``, else cleartext."""
        return HTTP2Connection(self.ctx.host, self.ctx.port, timeout=self.timeout,
                               ca_file=self.ctx.extras.get("ca_file"))


def ok_json(response: Any) -> Json:
    """The JSON body of a 200 response (any client's response object with status and json())."""
    if response.status != 200:
        raise RuntimeError(f"answered {response.status}")
    data: Json = response.json()
    return data


@dataclass(frozen=True)
class Transport:
    name: str
    label: str
    available: Callable[[], bool]
    sequence: Optional[Callable[[Session, Sequence[str]], List[Json]]] = None
    concurrent: Optional[Callable[[Session, Sequence[str]], List[Json]]] = None
    websocket: Optional[Callable[[Session, str], Json]] = None


TRANSPORTS: Dict[str, Transport] = {}


def register_transport(transport: Transport) -> Transport:
    TRANSPORTS[transport.name] = transport
    return transport


def _h2_sequence(session: Session, targets: Sequence[str]) -> List[Json]:
    with session.h2() as conn:
        return [ok_json(conn.get(t)) for t in targets]


def _h2_concurrent(session: Session, targets: Sequence[str]) -> List[Json]:
    with session.h2() as conn:
        return [ok_json(r) for r in conn.get_many(targets)]


for _name, _label in (("h2c", "HTTP/2 cleartext (prior knowledge)"), ("h2-tls", "HTTP/2 over TLS")):
    register_transport(Transport(_name, _label, h2_available, _h2_sequence, _h2_concurrent))
