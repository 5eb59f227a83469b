"""An HTTP/2 client on ``h2``: streams one after another (S5) or all at once (S11) on one
connection, cleartext by prior knowledge or TLS with ALPN ``h2``; ``h2`` is imported on connect.
"""


from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ._h1 import Connection, JSONBody, ProtocolError

__all__ = ["HTTP2Connection", "HTTP2Response"]


@dataclass
class HTTP2Response(JSONBody):
    stream_id: int
    status: int = 0
    headers: List[Tuple[str, str]] = field(default_factory=list)
    #: A bytearray: a WebSocket's frame reader takes whole frames off its front (``_ws_h2``).
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False


class HTTP2Connection(Connection):
    """One HTTP/2 connection to ``host:port``; ``ca_file`` given: TLS with ALPN ``h2``."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0,
                 ca_file: Optional[str] = None) -> None:
        import h2.config
        import h2.connection

        super().__init__(host, port, timeout, ca_file, "h2")
        if self.tls and self.sock.selected_alpn_protocol() != "h2":  # type: ignore[attr-defined]
            self.sock.close()
            raise ProtocolError("the server did not negotiate h2 by ALPN")
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.initiate_connection()
        self._flush()
        #: Every stream this client opened (requests, and a WebSocket's stream), by id.
        self.responses: Dict[int, HTTP2Response] = {}
        self.terminated = False

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def open_stream(self, method: str, path: str, extra: Sequence[Tuple[str, str]] = (),
                    end_stream: bool = True) -> HTTP2Response:
        """Send a request's headers (and ``extra`` ones) on a new stream of this connection."""
        stream_id: int = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", "https" if self.tls else "http"),
                   (":authority", f"{self.host}:{self.port}"), (":path", path), *extra]
        self.conn.send_headers(stream_id, headers, end_stream=end_stream)
        response = self.responses[stream_id] = HTTP2Response(stream_id)
        self._flush()
        return response

    def read(self) -> List[Any]:
        """One read of the socket; its events, applied to this client's streams."""
        import h2.events

        data = self.sock.recv(65536)
        if not data:
            raise ProtocolError("connection closed by the server")
        events = self.conn.receive_data(data)
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if isinstance(event, h2.events.ConnectionTerminated):
                self.terminated = True
            response = self.responses.get(getattr(event, "stream_id", 0))
            if response is None:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                response.headers = [(str(k), str(v)) for k, v in event.headers]
                response.status = int(dict(response.headers).get(":status", "0"))
            elif isinstance(event, h2.events.DataReceived):
                response.body += event.data
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                response.ended = True
        self._flush()
        return list(events)

    def wait(self, condition: Callable[[], Any], missing: str) -> Any:
        """Read until ``condition()`` is true (its value), for at most the connection's timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise ProtocolError(f"{missing} within {self.timeout:g} s")
            self.read()

    def get_many(self, targets: Sequence[str]) -> List[HTTP2Response]:
        """All requests sent at once, on concurrent streams of this connection."""
        responses = [self.open_stream("GET", t) for t in targets]

        def complete() -> bool:
            done = all(r.ended for r in responses)
            if not done and self.terminated:
                raise ProtocolError("the server ended the HTTP/2 connection (GOAWAY)")
            return done

        self.wait(complete, "HTTP/2 responses not complete")
        return responses

    def get(self, target: str) -> HTTP2Response:
        """One request on a new stream of this connection, waited for."""
        return self.get_many([target])[0]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close_connection()
            self._flush()
        super().close()
