"""A WebSocket over HTTP/2 (RFC 8441) client: one stream of an :class:`HTTP2Connection`.

No ready-made client speaks it, so this is the frame layer on top of ``h2``: wait until the server
advertises ``SETTINGS_ENABLE_CONNECT_PROTOCOL``, open a stream with an extended CONNECT
(``:protocol websocket``), wait for ``:status 200``, then carry RFC 6455 frames (masked, as a
client must) in DATA frames of that stream. Because it is a stream of an existing connection, a
WebSocket can follow HTTP/2 requests on the very same connection — the HTTP/2 form of S6.
"""

from __future__ import annotations

import contextlib
import struct
import time
from typing import Any, Callable

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
    deadline = time.monotonic() + wait
    connection.sock.settimeout(0.2)
    try:
        while not settings.get(_ENABLE_CONNECT_PROTOCOL, 0) and time.monotonic() < deadline:
            try:
                events = connection.read()
            except OSError:  # socket.timeout: nothing more arrived yet
                continue
            if any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events):
                break
    finally:
        connection.sock.settimeout(connection.timeout)
    return bool(settings.get(_ENABLE_CONNECT_PROTOCOL, 0))


class WebSocketOverH2(FrameSocket):
    """A WebSocket on a new stream of ``connection``; ``receive()``/``send_text()`` like ``_ws``."""

    def __init__(self, connection: HTTP2Connection, path: str = "/ws") -> None:
        self.connection = connection
        if not server_allows_websocket(connection):
            raise ProtocolError("the server does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL")
        self.stream = connection.open_stream("CONNECT", path, [(":protocol", "websocket"),
                                                               ("sec-websocket-version", "13")],
                                             end_stream=False)
        self._wait(lambda: self.stream.status != 0, "response to the extended CONNECT")
        if self.stream.status != 200:
            raise ProtocolError(f"extended CONNECT answered {self.stream.status}")

    def _wait(self, condition: Callable[[], Any], what: str) -> Any:
        def ready() -> Any:
            result = condition()
            if not result and self.stream.ended:
                raise ProtocolError(f"the server ended the WebSocket stream before {what}")
            return result

        return self.connection.wait(ready, f"no {what}")

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        self.connection.conn.send_data(self.stream.stream_id, client_frame(opcode, payload))
        self.connection._flush()

    def _read_frame(self) -> Frame:
        frame: Frame = self._wait(lambda: split_frame(self.stream.body), "WebSocket frame")
        return frame

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self._send_frame(0x8, struct.pack("!H", 1000))
            # Wait for the server's end of the stream: the closing handshake is over before the
            # connection may go. No END_STREAM of ours after the server's: a server may have
            # forgotten the stream by then and raise on it, which ends the connection (and, on
            # trio, the whole server).
            self._wait(lambda: self.stream.ended, "end of the WebSocket stream")
