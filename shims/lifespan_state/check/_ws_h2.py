"""A WebSocket over HTTP/2 (RFC 8441) client: one stream of an :class:`HTTP2Connection`.

No ready-made client speaks it, so this is the frame layer on top of ``h2``: wait until the server
advertises ``SETTINGS_ENABLE_CONNECT_PROTOCOL``, open a stream with an extended CONNECT
(``:protocol websocket``), wait for ``:status 200``, then carry RFC 6455 frames (masked, as a
client must) in DATA frames of that stream. Because it is a stream of an existing connection, a
WebSocket can follow HTTP/2 requests on the very same connection — the HTTP/2 form of S6.
"""

from __future__ import annotations

import json
import struct
import time
from typing import Any, List, Optional, Tuple

from ._h1 import ProtocolError
from ._h2 import HTTP2Connection
from ._ws import client_frame

__all__ = ["WebSocketOverH2", "server_allows_websocket"]

_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA
#: SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 section 3).
_ENABLE_CONNECT_PROTOCOL = 0x8


def server_allows_websocket(connection: HTTP2Connection, wait: float = 2.0) -> bool:
    """Did the server advertise RFC 8441? Reads its SETTINGS for up to ``wait`` seconds when
    the setting is not on yet (it may simply not have arrived)."""
    import h2.events

    settings = connection.conn.remote_settings
    if settings.get(_ENABLE_CONNECT_PROTOCOL, 0):
        return True
    pump = _WebSocketPump(connection)
    deadline = time.monotonic() + wait
    connection.sock.settimeout(0.2)
    try:
        while time.monotonic() < deadline:
            try:
                events = pump.read()
            except OSError:  # socket.timeout: nothing more arrived yet
                continue
            if any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events):
                break
    finally:
        connection.sock.settimeout(connection.timeout)
    return bool(settings.get(_ENABLE_CONNECT_PROTOCOL, 0))


class _WebSocketPump:
    """Reads the connection's socket and keeps what belongs to one stream."""

    def __init__(self, connection: HTTP2Connection, stream_id: Optional[int] = None) -> None:
        self.connection = connection
        self.stream_id = stream_id
        self.status = 0
        self.data = bytearray()
        self.ended = False
        self.reset: Optional[int] = None

    def read(self) -> List[Any]:
        import h2.events

        conn = self.connection
        data = conn.sock.recv(65536)
        if not data:
            raise ProtocolError("connection closed by the server")
        events = conn.conn.receive_data(data)
        for event in events:
            stream = getattr(event, "stream_id", None)
            if stream is None or stream != self.stream_id:
                if isinstance(event, h2.events.DataReceived):
                    conn.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                continue
            if isinstance(event, h2.events.ResponseReceived):
                self.status = int(dict((str(k), str(v)) for k, v in event.headers).get(":status", "0"))
            elif isinstance(event, h2.events.DataReceived):
                self.data += event.data
                conn.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.ended = True
            elif isinstance(event, h2.events.StreamReset):
                self.reset, self.ended = int(event.error_code), True
        conn._flush()
        return list(events)

    def wait(self, condition: Any, what: str) -> None:
        deadline = time.monotonic() + self.connection.timeout
        while not condition():
            if self.ended and not condition():
                raise ProtocolError(f"the server ended the WebSocket stream before {what}")
            if time.monotonic() > deadline:
                raise ProtocolError(f"no {what} within {self.connection.timeout:g} s")
            self.read()


class WebSocketOverH2:
    """A WebSocket on a new stream of ``connection``; ``receive()``/``send_text()`` like ``_ws``."""

    def __init__(self, connection: HTTP2Connection, path: str = "/ws") -> None:
        self.connection = connection
        self.closed = False
        if not server_allows_websocket(connection):
            raise ProtocolError("the server does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL")
        conn = connection.conn
        self.stream_id: int = conn.get_next_available_stream_id()
        self.pump = _WebSocketPump(connection, self.stream_id)
        scheme = "https" if connection.tls else "http"
        conn.send_headers(
            self.stream_id,
            [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", scheme),
             (":path", path), (":authority", f"{connection.host}:{connection.port}"),
             ("sec-websocket-version", "13")],
        )
        connection._flush()
        self.pump.wait(lambda: self.pump.status != 0, "response to the extended CONNECT")
        if self.pump.status != 200:
            raise ProtocolError(f"extended CONNECT answered {self.pump.status}")

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        self.connection.conn.send_data(self.stream_id, client_frame(opcode, payload))
        self.connection._flush()

    def _frame(self) -> Tuple[bool, int, bytes]:
        buffer = self.pump.data

        def complete() -> bool:
            if len(buffer) < 2:
                return False
            size, offset = buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return False
                size, offset = struct.unpack("!H", bytes(buffer[2:4]))[0], 4
            elif size == 127:
                if len(buffer) < 10:
                    return False
                size, offset = struct.unpack("!Q", bytes(buffer[2:10]))[0], 10
            if buffer[1] & 0x80:
                offset += 4
            return len(buffer) >= offset + size

        self.pump.wait(complete, "WebSocket frame")
        first, second = buffer[0], buffer[1]
        size, offset = second & 0x7F, 2
        if size == 126:
            size, offset = struct.unpack("!H", bytes(buffer[2:4]))[0], 4
        elif size == 127:
            size, offset = struct.unpack("!Q", bytes(buffer[2:10]))[0], 10
        mask = b""
        if second & 0x80:
            mask, offset = bytes(buffer[offset:offset + 4]), offset + 4
        payload = bytes(buffer[offset:offset + size])
        del buffer[:offset + size]
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    def send_text(self, text: str) -> None:
        self._send_frame(_TEXT, text.encode("utf-8"))

    def receive(self) -> str:
        parts: List[bytes] = []
        while True:
            fin, opcode, payload = self._frame()
            if opcode == _PING:
                self._send_frame(_PONG, payload)
                continue
            if opcode == _PONG:
                continue
            if opcode == _CLOSE:
                self.closed = True
                raise ProtocolError("the server closed the WebSocket")
            parts.append(payload)
            if fin:
                return b"".join(parts).decode("utf-8")

    def receive_json(self) -> Any:
        return json.loads(self.receive())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._send_frame(_CLOSE, struct.pack("!H", 1000))
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
