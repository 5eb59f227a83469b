"""A small HTTP/1.1 keep-alive client on the stdlib socket (plain or TLS).

Not ``http.client``: it silently reconnects when the server closed the connection (which would hide
the per-connection behaviour S5 looks at), and a WebSocket upgrade must be able to follow HTTP
requests on the same socket (S6). Every read and write is bounded by the connection's timeout.
"""


from __future__ import annotations

import contextlib
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, TypeVar

__all__ = ["Closing", "Connection", "HTTP1Connection", "HTTPResponse", "JSONBody", "ProtocolError",
           "SocketReader"]

_C = TypeVar("_C", bound="Closing")


class ProtocolError(RuntimeError):
    """The peer said something this minimal client does not understand, or closed early."""


class Closing:
    """``with`` for every client of the kit: ``close()`` on the way out, whatever happened."""

    def close(self) -> object:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Connection(Closing):
    """A client's socket to ``host:port``, every read and write bounded by ``timeout``; with
    ``ca_file``: TLS verified against it, offering the protocol ``alpn`` (ALPN)."""

    def __init__(self, host: str, port: int, timeout: float, ca_file: Optional[str], alpn: str) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.tls = ca_file is not None
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if ca_file is not None:
            context = ssl.create_default_context(cafile=ca_file)
            context.set_alpn_protocols([alpn])
            self.sock = context.wrap_socket(self.sock, server_hostname=host)
        self.sock.settimeout(timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class SocketReader:
    """Buffered reads (lines, exact byte counts) that never read past what the caller asks for
    into anyone else's data: leftover bytes stay in ``buffer`` for the next reader (a WebSocket
    upgrade hands them to the frame reader)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ProtocolError("connection closed by the server")
        self.buffer += chunk

    def readline(self, limit: int = 65536) -> bytes:
        while True:
            index = self.buffer.find(b"\n")
            if index >= 0:
                line = bytes(self.buffer[: index + 1])
                del self.buffer[: index + 1]
                return line
            if len(self.buffer) > limit:
                raise ProtocolError("line too long")
            self.fill()

    def readexact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


class JSONBody:
    """``json()`` of a response's body, for every client of the kit (the probe answers JSON)."""

    body: Any

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class HTTPResponse(JSONBody):
    status: int
    reason: str
    headers: List[Tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


class HTTP1Connection(Connection):
    """One TCP connection; ``request()`` sends requests on it one after the other (keep-alive).

    It never opens a second socket behind the caller's back: a server that closed the connection
    makes the next ``request()`` raise :class:`ProtocolError`.
    """

    def __init__(self, host: str, port: int, *, timeout: float = 10.0,
                 ca_file: Optional[str] = None) -> None:
        super().__init__(host, port, timeout, ca_file, "http/1.1")
        self.reader = SocketReader(self.sock)
        self.requests_sent = 0
        self.server_closed = False

    def send_request(self, method: str, target: str, headers: Sequence[Tuple[str, str]] = ()) -> None:
        """A request without a body (the probe's requests carry everything in the target)."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.requests_sent += 1

    def read_response(self, method: str = "GET") -> HTTPResponse:
        status_line = self.reader.readline().decode("latin-1").rstrip("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolError(f"bad status line {status_line!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers: List[Tuple[str, str]] = []
        while True:
            line = self.reader.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        response = HTTPResponse(status, reason, headers, b"")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:  # no body (101 too)
            return response
        length = response.header("content-length")
        if "chunked" in (response.header("transfer-encoding") or "").lower():
            response.body = self._read_chunked()
        elif length is not None:
            response.body = self.reader.readexact(int(length))
        else:  # body until close
            with contextlib.suppress(ProtocolError):  # fill() raises it at the end of the stream
                while True:
                    self.reader.fill()
            response.body = bytes(self.reader.buffer)
            self.reader.buffer.clear()
            self.server_closed = True
        if (response.header("connection") or "").lower() == "close":
            self.server_closed = True
        return response

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.reader.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.reader.readline() not in (b"\r\n", b"\n"):
                    pass
                return bytes(body)
            body += self.reader.readexact(size)
            self.reader.readexact(2)

    def request(self, method: str, target: str, headers: Sequence[Tuple[str, str]] = ()) -> HTTPResponse:
        if self.server_closed:
            raise ProtocolError("the server closed this keep-alive connection")
        self.send_request(method, target, headers)
        return self.read_response(method)

    def get(self, target: str) -> HTTPResponse:
        return self.request("GET", target)
