"""The client transports of the one engine (docs/CONFORMANCE.md, "Transports").

A :class:`Transport` carries the probe's requests; the checks judge what comes back the same way
whichever transport carried it. It offers any of:

* ``sequence(session, targets)``: the targets one after another on *one* connection, the probe's
  views in order (S5: the first writes a key and replaces ``obj``, the next must not see either;
  S7: a request after the lifespan added a key must see it);
* ``concurrent(session, targets)``: all targets at once (S11);
* ``websocket(session, key)``: an HTTP request, then a WebSocket on the same connection that
  writes ``key``, then a later connection: ``{"http", "first", "written", "after"}`` views (S6).

A transport that cannot run against this server raises :class:`NotApplicable` (the reason goes
into the check's detail); ``needs`` is what its client imports (all in the ``check`` extra).

The engine reaches a run only through a :class:`Session` and the transports' callables, so a test
harness takes the place of the socket with a Session subclass of its own (``_harness_checks``).
"""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ._h1 import HTTP1Connection
from ._h2 import HTTP2Connection
from ._recipes import LaunchContext
from ._ws import FrameSocket, WebSocket

__all__ = ["TRANSPORTS", "NotApplicable", "Session", "Transport", "ok_json"]

Json = Dict[str, Any]


class NotApplicable(RuntimeError):
    """This transport cannot be checked against this server (the message says why)."""


class Session:
    """The client side of one server run: what a transport needs to reach the server."""

    def __init__(self, ctx: LaunchContext, timeout: float) -> None:
        self.ctx = ctx
        self.timeout = timeout

    def connect(self) -> HTTP1Connection:
        return HTTP1Connection(self.ctx.host, self.ctx.port, timeout=self.timeout,
                               ca_file=self.ctx.ca_file)

    def get(self, target: str) -> Json:
        """One HTTP/1.1 request on a fresh connection; the probe's view."""
        with self.connect() as conn:
            return ok_json(conn.get(target))

    def websocket(self, conn: HTTP1Connection, path: str) -> WebSocket:
        """A WebSocket upgrading ``conn`` (a harness's session opens one of its own instead)."""
        return WebSocket(conn, path)

    def h2(self) -> HTTP2Connection:
        """An HTTP/2 connection: over TLS (ALPN) when the run has TLS, else cleartext."""
        return HTTP2Connection(self.ctx.host, self.ctx.port, timeout=self.timeout,
                               ca_file=self.ctx.ca_file)


def ok_json(response: Any) -> Json:
    """The JSON body of a 200 response (any client's response object with status and json())."""
    if response.status != 200:
        raise RuntimeError(f"answered {response.status}")
    data: Json = response.json()
    return data


Targets = Sequence[str]


@dataclass(frozen=True)
class Transport:
    name: str
    label: str
    #: Modules its client needs (importable here, else the transport is reported as not checked).
    needs: Tuple[str, ...] = ()
    sequence: Optional[Callable[[Session, Targets], List[Json]]] = None
    concurrent: Optional[Callable[[Session, Targets], List[Json]]] = None
    websocket: Optional[Callable[[Session, str], Json]] = None
    #: Only with TLS (the run's certificate is what the client verifies).
    tls: bool = False

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.needs)


# -- HTTP/1.1 -------------------------------------------------------------------------------------

def _h1_sequence(session: Session, targets: Targets) -> List[Json]:
    with session.connect() as conn:
        return [ok_json(conn.get(t)) for t in targets]


def _h1_concurrent(session: Session, targets: Targets, per_connection: int = 2) -> List[Json]:
    """HTTP/1.1 has no streams: the targets on concurrent keep-alive connections, two on each (every
    read is bounded by the session's timeout; the first failure is the step's)."""
    chunks = [targets[i:i + per_connection] for i in range(0, len(targets), per_connection)]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        return [view for views in pool.map(partial(_h1_sequence, session), chunks) for view in views]


def _ws_write(ws: FrameSocket, key: str) -> Json:
    """The WebSocket's first view, and its view after it wrote ``key``."""
    first = ws.receive_json()
    ws.send_text(f"write {key}")
    return {"first": first, "written": ws.receive_json()}


def _ws_h1(session: Session, key: str) -> Json:
    with session.connect() as conn:
        http_view = ok_json(conn.get(f"/?write={key}-http"))
        with session.websocket(conn, "/ws") as ws:
            seen = _ws_write(ws, key)
    with session.websocket(session.connect(), "/ws") as ws2:
        after = ws2.receive_json()
    return {"http": http_view, **seen, "after": after}


# -- HTTP/2 ---------------------------------------------------------------------------------------

def _h2(session: Session, targets: Targets, concurrent: bool = False) -> List[Json]:
    with session.h2() as conn:  # streams one after another, or all at once
        return [ok_json(r) for r in (conn.get_many(targets) if concurrent else map(conn.get, targets))]


def _ws_h2(session: Session, key: str) -> Json:
    from ._ws_h2 import WebSocketOverH2, server_allows_websocket

    with session.h2() as conn:
        http_view = ok_json(conn.get(f"/?write={key}-http"))
        if not server_allows_websocket(conn):
            raise NotApplicable("the server does not offer WebSocket over HTTP/2 (RFC 8441)")
        with WebSocketOverH2(conn, "/ws") as ws:
            seen = _ws_write(ws, key)
            # While the WebSocket is open: its close ends the whole connection on some servers.
            with session.h2() as fresh:
                after = ok_json(fresh.get("/"))
    return {"http": http_view, **seen, "after": after}


# -- HTTP/3 ---------------------------------------------------------------------------------------

def _h3(session: Session, targets: Targets, concurrent: bool = False) -> List[Json]:
    from ._h3 import h3_get

    if session.ctx.ca_file is None:
        raise NotApplicable("HTTP/3 needs TLS")
    return [ok_json(r) for r in h3_get(session.ctx.host, session.ctx.port, targets, concurrent=concurrent,
                                       ca_file=session.ctx.ca_file, timeout=session.timeout)]


#: Every transport, by name, in the order the checks use them (and list them in details).
TRANSPORTS: Dict[str, Transport] = {t.name: t for t in (
    Transport("h1", "HTTP/1.1 keep-alive", (), _h1_sequence, _h1_concurrent),
    Transport("ws", "WebSocket over HTTP/1.1", (), websocket=_ws_h1),
    Transport("h2c", "HTTP/2 cleartext (prior knowledge)", ("h2",), _h2, partial(_h2, concurrent=True)),
    Transport("h2-tls", "HTTP/2 over TLS (ALPN)", ("h2",), _h2, partial(_h2, concurrent=True), tls=True),
    Transport("h3", "HTTP/3 (QUIC)", ("aioquic",), _h3, partial(_h3, concurrent=True), tls=True),
    Transport("ws-h2", "WebSocket over HTTP/2 (RFC 8441)", ("h2",), websocket=_ws_h2),
)}
