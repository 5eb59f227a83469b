"""An HTTP/2 client on ``h2``: streams one after another (S5) or all at once (S11) on one
connection, cleartext by prior knowledge or TLS with ALPN ``h2``; ``h2`` is imported on connect.
"""


from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._h1 import ProtocolError

__all__ = ["HTTP2Connection", "HTTP2Response", "tls_files"]


@dataclass
class HTTP2Response:
    stream_id: int
    status: int = 0
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    ended: bool = False

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def tls_files(directory: str) -> Dict[str, str]:
    """A throw-away CA and a 127.0.0.1/localhost certificate (needs ``trustme``).

    Returns paths: ``ca_file`` (for clients), ``cert_file`` and ``key_file`` (for the server).
    """
    import os

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {
        "ca_file": os.path.join(directory, "ca.pem"),
        "cert_file": os.path.join(directory, "server.pem"),
        "key_file": os.path.join(directory, "server.key"),
    }
    ca.cert_pem.write_to_path(paths["ca_file"])
    cert.cert_chain_pems[0].write_to_path(paths["cert_file"])
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(paths["cert_file"], append=True)
    cert.private_key_pem.write_to_path(paths["key_file"])
    return paths


class HTTP2Connection:
    """One HTTP/2 connection to ``host:port``; ``ca_file`` given: TLS with ALPN ``h2``."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0,
                 ca_file: Optional[str] = None) -> None:
        import h2.config
        import h2.connection

        self.host = host
        self.port = port
        self.timeout = timeout
        raw = socket.create_connection((host, port), timeout=timeout)
        self.tls = ca_file is not None
        if ca_file is not None:
            context = ssl.create_default_context(cafile=ca_file)
            context.set_alpn_protocols(["h2"])
            self.sock: socket.socket = context.wrap_socket(raw, server_hostname=host)
            if self.sock.selected_alpn_protocol() != "h2":  # type: ignore[attr-defined]
                self.sock.close()
                raise ProtocolError("the server did not negotiate h2 by ALPN")
        else:
            self.sock = raw
        self.sock.settimeout(timeout)
        self.local_port = int(self.sock.getsockname()[1])
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.initiate_connection()
        self._flush()
        self.responses: Dict[int, HTTP2Response] = {}
        self.terminated = False

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _start(self, method: str, target: str) -> int:
        stream_id: int = self.conn.get_next_available_stream_id()
        scheme = "https" if self.tls else "http"
        headers = [(":method", method), (":scheme", scheme), (":authority", f"{self.host}:{self.port}"),
                   (":path", target)]
        self.conn.send_headers(stream_id, headers, end_stream=True)
        self.responses[stream_id] = HTTP2Response(stream_id)
        self._flush()
        return stream_id

    def _pump(self, waiting: Sequence[int]) -> None:
        import h2.events

        deadline = time.monotonic() + self.timeout
        while any(not self.responses[s].ended for s in waiting):
            if self.terminated:
                raise ProtocolError("the server ended the HTTP/2 connection (GOAWAY)")
            if time.monotonic() > deadline:
                raise ProtocolError(f"HTTP/2 responses not complete within {self.timeout:g} s")
            data = self.sock.recv(65536)
            if not data:
                raise ProtocolError("connection closed by the server")
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    response = self.responses[event.stream_id]
                    response.headers = [(str(k), str(v)) for k, v in event.headers]
                    response.status = int(dict(response.headers).get(":status", "0"))
                elif isinstance(event, h2.events.DataReceived):
                    self.responses[event.stream_id].body += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    self.responses[event.stream_id].ended = True
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.terminated = True
            self._flush()

    def get(self, target: str) -> HTTP2Response:
        """One request on a new stream of this connection, waited for."""
        stream_id = self._start("GET", target)
        self._pump([stream_id])
        return self.responses[stream_id]

    def get_many(self, targets: Sequence[str]) -> List[HTTP2Response]:
        """All requests sent at once, on concurrent streams of this connection."""
        ids = [self._start("GET", t) for t in targets]
        self._pump(ids)
        return [self.responses[i] for i in ids]

    def close(self) -> None:
        try:
            self.conn.close_connection()
            self._flush()
        except Exception:
            pass
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> HTTP2Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
