"""WebSocket clients (RFC 6455 frames) over HTTP/1.1 and, as one HTTP/2 stream, over HTTP/2.

Dependency-free, so it runs in every old environment (the ``websockets`` releases old uvicorns pin
cannot even handshake on new Pythons). :class:`WebSocket` upgrades an :class:`HTTP1Connection`, so
it can follow HTTP requests on the same socket (S6); ``_ws_h2`` carries the same frames (RFC 8441).
"""


from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import struct
from typing import Any, List, Optional, Tuple

from ._h1 import Closing, HTTP1Connection, ProtocolError

__all__ = ["FrameSocket", "WebSocket", "WebSocketClosed", "client_frame", "split_frame"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA

Frame = Tuple[bool, int, bytes]


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 5.2)."""
    header = bytearray([0x80 | opcode])
    size = len(payload)
    if size < 126:
        header.append(0x80 | size)
    elif size < 1 << 16:
        header += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", size)
    mask = os.urandom(4)  # clients must mask every frame (RFC 6455 5.3)
    return bytes(header + mask) + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def split_frame(buffer: bytearray) -> Optional[Frame]:
    """The first whole frame in ``buffer`` (removed from it), or None while it is incomplete."""
    if len(buffer) < 2:
        return None
    size, offset = buffer[1] & 0x7F, 2
    if size in (126, 127):
        wide = 2 if size == 126 else 8
        if len(buffer) < 2 + wide:
            return None
        size, offset = int.from_bytes(buffer[2:2 + wide], "big"), 2 + wide
    mask = b""
    if buffer[1] & 0x80:
        mask, offset = bytes(buffer[offset:offset + 4]), offset + 4
    if len(buffer) < offset + size:
        return None
    first, payload = buffer[0], bytes(buffer[offset:offset + size])
    del buffer[:offset + size]
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bool(first & 0x80), first & 0x0F, payload


def _close_code(payload: bytes) -> Optional[int]:
    return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else None


class WebSocketClosed(ProtocolError):
    """The server closed the WebSocket (``code`` from its close frame, None if it just hung up)."""

    def __init__(self, code: Optional[int], reason: str = "") -> None:
        super().__init__(f"websocket closed by the server (code {code}) {reason}".strip())
        self.code = code


class FrameSocket(Closing):
    """Messages over frames; a subclass supplies ``_send_frame``, ``_read_frame`` and ``close``."""

    closed = False

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        raise NotImplementedError

    def _read_frame(self) -> Frame:
        raise NotImplementedError

    def send_text(self, text: str) -> None:
        self._send_frame(_TEXT, text.encode("utf-8"))

    def receive(self) -> str:
        """The next text (or binary, decoded) message; answers pings on the way."""
        parts: List[bytes] = []
        while True:
            try:
                fin, opcode, payload = self._read_frame()
            except ProtocolError:
                self.closed = True
                raise WebSocketClosed(None, "without a close frame") from None
            if opcode == _PING:
                self._send_frame(_PONG, payload)
            elif opcode == _CLOSE:
                if not self.closed:
                    self._send_frame(_CLOSE, payload[:2])
                self.closed = True
                raise WebSocketClosed(_close_code(payload), payload[2:].decode("utf-8", "replace"))
            elif opcode != _PONG:
                parts.append(payload)
                if fin:
                    return b"".join(parts).decode("utf-8")

    def receive_json(self) -> Any:
        return json.loads(self.receive())


class WebSocket(FrameSocket):
    """A client WebSocket on ``connection`` (which it takes over: no HTTP after the upgrade)."""

    def __init__(self, connection: HTTP1Connection, path: str = "/") -> None:
        self.connection = connection
        key = base64.b64encode(os.urandom(16)).decode()
        connection.send_request("GET", path, headers=(
            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13")))
        response = connection.read_response()
        if response.status != 101:
            raise ProtocolError(f"websocket handshake answered {response.status} {response.reason}")
        expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if response.header("sec-websocket-accept") != expected:
            raise ProtocolError("websocket handshake: wrong Sec-WebSocket-Accept")

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        self.connection.sock.sendall(client_frame(opcode, payload))

    def _read_frame(self) -> Frame:
        reader = self.connection.reader
        while True:
            frame = split_frame(reader.buffer)
            if frame is not None:
                return frame
            reader.fill()

    def close(self, code: int = 1000) -> None:
        """Closing handshake (until the server's close frame, bounded by the socket timeout)."""
        if not self.closed:
            self.closed = True
            # A server that is gone already leaves nothing to shake hands with: just close.
            with contextlib.suppress(ProtocolError, OSError):
                self._send_frame(_CLOSE, struct.pack("!H", code))
                while self._read_frame()[1] != _CLOSE:
                    pass
        self.connection.close()
