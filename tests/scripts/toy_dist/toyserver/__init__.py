"""A toy ASGI server for the out-of-tree integration test: HTTP/1.1 keep-alive and the lifespan
protocol, without lifespan state (the way servers were before the spec had it).

``python -m toyserver MODULE:APP --host H --port P [--no-lifespan]``; SIGINT or SIGTERM stops it
gracefully (``lifespan.shutdown`` runs). Bodies are not read: the probe's requests are GETs.
"""

from __future__ import annotations

import asyncio
import importlib
import signal
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["Server"]
__version__ = "1.0"


class Server:
    """One server run: the app is what every scope is handed to (``self.app``)."""

    def __init__(self, app: Any, host: str, port: int, lifespan: bool = True) -> None:
        self.app = app
        self.host, self.port, self.lifespan = host, port, lifespan

    async def serve(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        events: asyncio.Queue[Dict[str, Any]] = asyncio.Queue()
        answers: asyncio.Queue[Dict[str, Any]] = asyncio.Queue()
        task: Optional[asyncio.Task[None]] = None
        if self.lifespan:
            scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
            task = asyncio.ensure_future(self.app(scope, events.get, answers.put))
            await events.put({"type": "lifespan.startup"})
            answer = asyncio.ensure_future(answers.get())
            await asyncio.wait([answer, task], return_when=asyncio.FIRST_COMPLETED)
            if not answer.done():  # the app raised on (or returned from) the lifespan scope:
                answer.cancel()  # serve without one, as servers' "lifespan auto" does
                task = None
        server = await asyncio.start_server(self._connection, self.host, self.port)
        await stop.wait()
        server.close()
        await server.wait_closed()
        if task is not None:
            await events.put({"type": "lifespan.shutdown"})
            await answers.get()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                status, headers, body = await self._request(head, writer)
                lines = [f"HTTP/1.1 {status} OK", f"content-length: {len(body)}"]
                lines += [f"{k.decode()}: {v.decode()}" for k, v in headers if k.lower() != b"content-length"]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _request(
        self, head: bytes, writer: asyncio.StreamWriter
    ) -> Tuple[int, List[Tuple[bytes, bytes]], bytes]:
        request_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        method, target, _ = request_line.split(" ", 2)
        path, _, query = target.partition("?")
        headers = [tuple(p.strip().lower().encode() for p in line.split(":", 1)) for line in header_lines]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
            "root_path": "", "server": (self.host, self.port), "client": writer.get_extra_info("peername"),
            "headers": headers,
        }  # fmt: skip
        sent: Dict[str, Any] = {"status": 500, "headers": [], "body": b""}
        done = asyncio.Event()

        async def receive() -> Dict[str, Any]:
            if not done.is_set() and not sent.get("asked"):
                sent["asked"] = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent["status"], sent["headers"] = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                sent["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        done.set()
        return sent["status"], sent["headers"], sent["body"]


def main(argv: List[str]) -> None:
    module, _, attribute = argv[0].partition(":")
    app = getattr(importlib.import_module(module), attribute)
    host = argv[argv.index("--host") + 1]
    port = int(argv[argv.index("--port") + 1])
    asyncio.run(Server(app, host, port, lifespan="--no-lifespan" not in argv).serve())
