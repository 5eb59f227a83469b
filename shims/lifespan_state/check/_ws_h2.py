"""A WebSocket over HTTP/2 (RFC 8441) client: one stream of an :class:`HTTP2Connection`.

No ready-made client speaks it, so this is the frame layer on top of ``h2``: wait until the server
advertises ``SETTINGS_ENABLE_CONNECT_PROTOCOL``, open a stream with an extended CONNECT
(``:protocol websocket``), wait for ``:status 200``, then carry RFC 6455 frames (masked, as a
client must) in DATA frames of that stream. Because it is a stream of an existing connection, a
WebSocket can follow HTTP/2 requests on the very same connection — the HTTP/2 form of S6.
"""

from __future__ import annotations

import struct
import time
from typing import Any, Callable, List, Optional

from ._h1 import ProtocolError
from ._h2 import HTTP2Connection
from ._ws import Frame, FrameSocket, client_frame, split_frame

__all__ = ["WebSocketOverH2", "server_allows_websocket"]

#: SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 section 3).
_ENABLE_CONNECT_PROTOCOL = 0x8


def server_allows_websocket(connection: HTTP2Connection, wait: float = 2.0) -> bool:
    """Did the server advertise RFC 8441? Reads its SETTINGS for up to ``wait`` seconds when
    the setting is not on yet (it may simply not have arrived)."""
    import h2.events

    settings = connection.conn.remote_settings
    pump = _Pump(connection)
    deadline = time.monotonic() + wait
    connection.sock.settimeout(0.2)
    try:
        while not settings.get(_ENABLE_CONNECT_PROTOCOL, 0) and time.monotonic() < deadline:
            try:
                events = pump.read()
            except OSError:  # socket.timeout: nothing more arrived yet
                continue
            if any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events):
                break
    finally:
        connection.sock.settimeout(connection.timeout)
    return bool(settings.get(_ENABLE_CONNECT_PROTOCOL, 0))


class _Pump:
    """Reads the connection's socket and keeps what belongs to one stream."""

    def __init__(self, connection: HTTP2Connection, stream_id: Optional[int] = None) -> None:
        self.connection = connection
        self.stream_id = stream_id
        self.status = 0
        self.data = bytearray()
        self.ended = False

    def read(self) -> List[Any]:
        import h2.events

        conn = self.connection
        data = conn.sock.recv(65536)
        if not data:
            raise ProtocolError("connection closed by the server")
        events = conn.conn.receive_data(data)
        for event in events:
            mine = self.stream_id is not None and getattr(event, "stream_id", None) == self.stream_id
            if isinstance(event, h2.events.DataReceived):
                conn.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if not mine:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                self.status = int(dict((str(k), str(v)) for k, v in event.headers).get(":status", "0"))
            elif isinstance(event, h2.events.DataReceived):
                self.data += event.data
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                self.ended = True
        conn._flush()
        return list(events)

    def wait(self, condition: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + self.connection.timeout
        while True:
            result = condition()
            if result:
                return result
            if self.ended:
                raise ProtocolError(f"the server ended the WebSocket stream before {what}")
            if time.monotonic() > deadline:
                raise ProtocolError(f"no {what} within {self.connection.timeout:g} s")
            self.read()


class WebSocketOverH2(FrameSocket):
    """A WebSocket on a new stream of ``connection``; ``receive()``/``send_text()`` like ``_ws``."""

    def __init__(self, connection: HTTP2Connection, path: str = "/ws") -> None:
        self.connection = connection
        if not server_allows_websocket(connection):
            raise ProtocolError("the server does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL")
        conn = connection.conn
        self.stream_id: int = conn.get_next_available_stream_id()
        self.pump = _Pump(connection, self.stream_id)
        scheme = "https" if connection.tls else "http"
        conn.send_headers(self.stream_id, [
            (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", scheme), (":path", path),
            (":authority", f"{connection.host}:{connection.port}"), ("sec-websocket-version", "13")])
        connection._flush()
        self.pump.wait(lambda: self.pump.status != 0, "response to the extended CONNECT")
        if self.pump.status != 200:
            raise ProtocolError(f"extended CONNECT answered {self.pump.status}")

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        self.connection.conn.send_data(self.stream_id, client_frame(opcode, payload))
        self.connection._flush()

    def _read_frame(self) -> Frame:
        frame: Frame = self.pump.wait(lambda: split_frame(self.pump.data), "WebSocket frame")
        return frame

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._send_frame(0x8, struct.pack("!H", 1000))
            # Read this stream to its end here: later data of it would reach the HTTP/2
            # client's own reader, which knows only its request streams. No END_STREAM of ours
            # after the server's: hypercorn (0.14 - 0.18) has forgotten the stream by then and
            # raises KeyError on it, which ends the connection (and, on trio, the whole server).
            self.pump.wait(lambda: self.pump.ended, "end of the WebSocket stream")
        except Exception:
            pass

    def __enter__(self) -> WebSocketOverH2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
