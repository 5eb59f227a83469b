"""An HTTP/3 client on ``aioquic``: many requests on one QUIC connection, from synchronous code.

The checks are synchronous; aioquic is asyncio-only. A connection therefore runs its own event
loop in a daemon thread, and every call waits for its result with the connection's timeout (an
aioquic client facing a server that never answers would otherwise wait out its whole idle
timeout). Requests go one after another (S5: a key written by one request must not be seen by the
next on the same connection) or all at once (S11). ``aioquic`` is imported only when a connection
is made; :func:`h3_available` tells whether it is installed.

Works with aioquic 0.9.x (what hypercorn < 0.18 declares for its ``h3`` extra) and 1.x.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._h1 import ProtocolError

__all__ = ["HTTP3Connection", "HTTP3Response", "h3_available"]


def h3_available() -> bool:
    return importlib.util.find_spec("aioquic") is not None


@dataclass
class HTTP3Response:
    stream_id: int
    status: int = 0
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    ended: bool = False

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def _protocol_class() -> Any:
    """The aioquic protocol subclass (built on first use: aioquic is an optional dependency)."""
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.h3.connection import H3Connection
    from aioquic.h3.events import DataReceived, HeadersReceived

    class H3ClientProtocol(QuicConnectionProtocol):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.h3 = H3Connection(self._quic)
            self.responses: Dict[int, HTTP3Response] = {}
            self.waiters: Dict[int, asyncio.Future[HTTP3Response]] = {}

        def quic_event_received(self, event: Any) -> None:
            for h3_event in self.h3.handle_event(event):
                stream_id = getattr(h3_event, "stream_id", None)
                response = self.responses.get(stream_id) if stream_id is not None else None
                if response is None:
                    continue
                if isinstance(h3_event, HeadersReceived):
                    response.headers = [
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in h3_event.headers
                    ]
                    response.status = int(dict(response.headers).get(":status", "0"))
                elif isinstance(h3_event, DataReceived):
                    response.body += h3_event.data
                if getattr(h3_event, "stream_ended", False):
                    response.ended = True
                    waiter = self.waiters.pop(response.stream_id, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(response)

        async def request(self, authority: str, target: str) -> HTTP3Response:
            stream_id = self._quic.get_next_available_stream_id()
            response = HTTP3Response(stream_id)
            self.responses[stream_id] = response
            waiter: asyncio.Future[HTTP3Response] = asyncio.get_running_loop().create_future()
            self.waiters[stream_id] = waiter
            self.h3.send_headers(
                stream_id,
                [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", authority.encode()),
                 (b":path", target.encode()), (b"user-agent", b"lifespan-state-check")],
                end_stream=True,
            )
            self.transmit()
            return await waiter

    return H3ClientProtocol


class HTTP3Connection:
    """One QUIC connection to ``host:port`` (UDP) verified against ``ca_file``."""

    def __init__(self, host: str, port: int, *, ca_file: str, timeout: float = 10.0,
                 server_name: str = "localhost") -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="h3-client", daemon=True)
        self._thread.start()
        self._closing: Optional[asyncio.Event] = None
        self._holder: Optional[asyncio.Future[None]] = None
        self.protocol: Any = None
        self.local_port: Optional[int] = None
        try:
            self._call(self._open(ca_file, server_name))
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coroutine: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(coroutine, self.timeout), self._loop)
        try:
            return future.result(self.timeout + 2)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            future.cancel()
            raise ProtocolError(f"HTTP/3: no answer within {self.timeout:g} s") from exc

    async def _open(self, ca_file: str, server_name: str) -> None:
        from aioquic.asyncio.client import connect
        from aioquic.h3.connection import H3_ALPN
        from aioquic.quic.configuration import QuicConfiguration

        configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
        configuration.load_verify_locations(ca_file)
        configuration.server_name = server_name
        opened: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._closing = asyncio.Event()
        closing = self._closing

        async def hold() -> None:
            # ``connect`` is an async context manager: keep it entered until close().
            try:
                async with connect(self.host, self.port, configuration=configuration,
                                   create_protocol=_protocol_class()) as protocol:
                    if not opened.done():
                        opened.set_result(protocol)
                    await closing.wait()
            except BaseException as exc:
                if not opened.done():
                    opened.set_exception(exc)
                    return
                raise

        self._holder = asyncio.ensure_future(hold())
        self.protocol = await opened
        sockname = self.protocol._transport.get_extra_info("sockname")
        self.local_port = int(sockname[1]) if sockname else None

    def get(self, target: str) -> HTTP3Response:
        """One request on a new stream of this connection, waited for."""
        result: HTTP3Response = self._call(self.protocol.request(f"{self.host}:{self.port}", target))
        return result

    def get_many(self, targets: Sequence[str]) -> List[HTTP3Response]:
        """All requests sent at once, on concurrent streams of this connection."""
        authority = f"{self.host}:{self.port}"

        async def all_of() -> List[HTTP3Response]:
            return list(await asyncio.gather(*(self.protocol.request(authority, t) for t in targets)))

        result: List[HTTP3Response] = self._call(all_of())
        return result

    def close(self) -> None:
        try:
            if self._closing is not None and self._holder is not None:
                closing, holder = self._closing, self._holder

                async def finish() -> None:
                    closing.set()
                    await asyncio.wait([holder], timeout=self.timeout)

                self._call(finish())
        except Exception:
            pass
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> HTTP3Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
