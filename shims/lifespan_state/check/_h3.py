"""An HTTP/3 client on ``aioquic`` (0.9.x, what older servers declare, and 1.x).

The checks are synchronous and aioquic is asyncio-only: :func:`h3_get` runs one QUIC connection
from open to close in its own ``asyncio.run``, bounded as a whole by the timeout (an aioquic client
facing a server that never answers would otherwise wait out its whole idle timeout).
"""


from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Sequence

from ._h1 import JSONBody, ProtocolError

__all__ = ["h3_get"]


class _Response(JSONBody):
    def __init__(self) -> None:
        self.status = 0
        self.body = b""
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


def _error_name(code: int) -> str:
    """An HTTP/3 or QUIC error code with its name (``QPACK_DECOMPRESSION_FAILED, 0x200``)."""
    from aioquic.h3.connection import ErrorCode
    from aioquic.quic.packet import QuicErrorCode

    for codes in (ErrorCode, QuicErrorCode):
        try:
            return f"{codes(code).name}, 0x{code:x}"
        except ValueError:
            continue
    return f"error 0x{code:x}"


def _protocol_class() -> Any:
    """The aioquic protocol subclass (built on first use: aioquic is an optional dependency)."""
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.h3.connection import H3Connection
    from aioquic.h3.events import DataReceived, HeadersReceived
    from aioquic.quic.events import ConnectionTerminated

    class H3ClientProtocol(QuicConnectionProtocol):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.h3 = H3Connection(self._quic)
            self.responses: Dict[int, _Response] = {}

        def quic_event_received(self, event: Any) -> None:
            if isinstance(event, ConnectionTerminated):
                # Said at once: a cut-off response would otherwise wait out the timeout and read as
                # no answer at all. Either side may have closed it (the client's H3 layer closes on
                # a frame it cannot take): the words say neither, the code and reason say which.
                reason = f": {event.reason_phrase}" if event.reason_phrase else ""
                closed = ProtocolError(f"HTTP/3: the connection closed before the response ended "
                                       f"({_error_name(event.error_code)}{reason})")
                for pending in self.responses.values():
                    if not pending.done.done():
                        pending.done.set_exception(closed)
                return
            for h3_event in self.h3.handle_event(event):
                response = self.responses.get(getattr(h3_event, "stream_id", -1))
                if response is None:
                    continue
                if isinstance(h3_event, HeadersReceived):
                    response.status = int(dict(h3_event.headers).get(b":status", b"0"))
                elif isinstance(h3_event, DataReceived):
                    response.body += h3_event.data
                if getattr(h3_event, "stream_ended", False) and not response.done.done():
                    response.done.set_result(None)

        async def request(self, authority: str, target: str) -> _Response:
            stream_id = self._quic.get_next_available_stream_id()
            response = self.responses[stream_id] = _Response()
            self.h3.send_headers(stream_id, [
                (b":method", b"GET"), (b":scheme", b"https"), (b":authority", authority.encode()),
                (b":path", target.encode()), (b"user-agent", b"lifespan-state-check")],
                end_stream=True)
            self.transmit()
            await response.done
            return response

    return H3ClientProtocol


def h3_get(host: str, port: int, targets: Sequence[str], *, ca_file: str, timeout: float = 10.0,
           concurrent: bool = False) -> List[Any]:
    """GET every target on one QUIC connection (UDP) verified against ``ca_file``; the responses
    (``status``, ``body``, ``json()``) in the order of ``targets``."""
    from aioquic.asyncio.client import connect
    from aioquic.h3.connection import H3_ALPN
    from aioquic.quic.configuration import QuicConfiguration

    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
    configuration.load_verify_locations(ca_file)
    configuration.server_name = "localhost"  # the certificate's name (SNI cannot be an address)
    authority = f"{host}:{port}"

    async def session() -> List[Any]:
        async with connect(host, port, configuration=configuration,
                           create_protocol=_protocol_class()) as opened:
            protocol: Any = opened
            if concurrent:
                return list(await asyncio.gather(*(protocol.request(authority, t) for t in targets)))
            return [await protocol.request(authority, t) for t in targets]

    bound = timeout * (2 if concurrent else max(1, len(targets)))
    try:
        return asyncio.run(asyncio.wait_for(session(), bound))
    except (asyncio.TimeoutError, TimeoutError) as exc:
        raise ProtocolError(f"HTTP/3: no answer within {timeout:g} s") from exc
