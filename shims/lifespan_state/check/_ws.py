"""A minimal RFC 6455 WebSocket client over HTTP/1.1, on the stdlib socket.

Handshake, masked text frames, ping/pong, the closing handshake — enough for the probe, and free of
dependencies so it runs in every old environment (the ``websockets`` releases old uvicorns pin
cannot even complete a handshake on new Pythons). It upgrades an :class:`HTTP1Connection`, so the
WebSocket can follow HTTP requests on the same socket (S6).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any, Optional, Tuple

from ._h1 import HTTP1Connection, ProtocolError

__all__ = ["WebSocket", "WebSocketClosed", "client_frame"]


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 5.2); also the payload of WebSocket over HTTP/2."""
    header = bytearray([0x80 | opcode])
    size = len(payload)
    if size < 126:
        header.append(0x80 | size)
    elif size < 1 << 16:
        header.append(0x80 | 126)
        header += struct.pack("!H", size)
    else:
        header.append(0x80 | 127)
        header += struct.pack("!Q", size)
    mask = os.urandom(4)  # clients must mask every frame (RFC 6455 5.3)
    header += mask
    return bytes(header) + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _BINARY, _CLOSE, _PING, _PONG, _CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class WebSocketClosed(ProtocolError):
    """The server closed the WebSocket (``code`` from its close frame, None if it just hung up)."""

    def __init__(self, code: Optional[int], reason: str = "") -> None:
        super().__init__(f"websocket closed by the server (code {code}) {reason}".strip())
        self.code = code


class WebSocket:
    """A client WebSocket on ``connection`` (which it takes over: no HTTP after the upgrade)."""

    def __init__(self, connection: HTTP1Connection, path: str = "/") -> None:
        self.connection = connection
        self.closed = False
        key = base64.b64encode(os.urandom(16)).decode()
        connection.send_request(
            "GET",
            path,
            headers=(
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", key),
                ("Sec-WebSocket-Version", "13"),
            ),
        )
        response = connection.read_response()
        if response.status != 101:
            raise ProtocolError(f"websocket handshake answered {response.status} {response.reason}")
        expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if response.header("sec-websocket-accept") != expected:
            raise ProtocolError("websocket handshake: wrong Sec-WebSocket-Accept")

    @classmethod
    def connect(cls, host: str, port: int, path: str = "/", *, timeout: float = 10.0) -> WebSocket:
        return cls(HTTP1Connection(host, port, timeout=timeout), path)

    # -- frames ---------------------------------------------------------------------------
    def _send_frame(self, opcode: int, payload: bytes) -> None:
        self.connection.sock.sendall(client_frame(opcode, payload))

    def _read_frame(self) -> Tuple[bool, int, bytes]:
        reader = self.connection.reader
        first, second = reader.readexact(2)
        fin, opcode = bool(first & 0x80), first & 0x0F
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", reader.readexact(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", reader.readexact(8))[0]
        mask = reader.readexact(4) if second & 0x80 else b""
        payload = reader.readexact(size)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return fin, opcode, payload

    # -- messages -------------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        self._send_frame(_TEXT, text.encode("utf-8"))

    def receive(self) -> str:
        """The next text (or binary, decoded) message; answers pings on the way."""
        parts: list = []  # type: ignore[type-arg]
        while True:
            try:
                fin, opcode, payload = self._read_frame()
            except ProtocolError:
                self.closed = True
                raise WebSocketClosed(None, "without a close frame") from None
            if opcode == _PING:
                self._send_frame(_PONG, payload)
                continue
            if opcode == _PONG:
                continue
            if opcode == _CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                if not self.closed:
                    self._send_frame(_CLOSE, payload[:2])
                self.closed = True
                raise WebSocketClosed(code, payload[2:].decode("utf-8", "replace"))
            parts.append(payload)
            if fin:
                return b"".join(parts).decode("utf-8")

    def receive_json(self) -> Any:
        return json.loads(self.receive())

    def close(self, code: int = 1000) -> Optional[int]:
        """Closing handshake (bounded by the socket timeout); returns the server's close code."""
        if self.closed:
            self.connection.close()
            return None
        self._send_frame(_CLOSE, struct.pack("!H", code))
        self.closed = True
        server_code: Optional[int] = None
        try:
            while True:
                _, opcode, payload = self._read_frame()
                if opcode == _CLOSE:
                    server_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    break
        except (ProtocolError, OSError):
            pass
        self.connection.close()
        return server_code

    def __enter__(self) -> WebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        except OSError:
            self.connection.close()
