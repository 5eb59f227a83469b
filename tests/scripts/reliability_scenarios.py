"""Fault scenarios against a real in-process server, for comparing a shimmed old release with a
native one (tests/integration/test_reliability_faults.py runs this in both environments and compares).

Usage: python reliability_scenarios.py SERVER SCENARIO[,SCENARIO...]|all [--shim]
Prints one JSON line: per scenario, what the app and the clients observed. Nothing in it depends on timing or
ports, so a shimmed server and a native one must print the same thing.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import struct
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

# The kit's port picker: importing it imports the package, which activates nothing.
from lifespan_state.check._runner import free_port

HOST = "127.0.0.1"
TIMEOUT = 15.0


def wait_port(port: int, thread: threading.Thread) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and thread.is_alive():
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"server on {port} did not start")


class Server:
    """One in-process server run on a thread; ``stop()`` triggers its graceful shutdown."""

    def __init__(self, server: str, app: Any, lifespan: str = "on", config: Any = None) -> None:
        self.kind = server
        self.port = free_port()
        self.config = config
        self.error: Optional[BaseException] = None
        if server == "uvicorn":
            import uvicorn

            if self.config is None:
                self.config = uvicorn.Config(
                    app, host=HOST, port=self.port, lifespan=lifespan, log_level="critical",
                    loop="asyncio", http="h11", ws="wsproto",
                )
            else:
                self.port = self.config.port
            self.server = uvicorn.Server(self.config)
            target: Callable[[], None] = lambda: asyncio.run(self.server.serve())  # noqa: E731
        else:
            from hypercorn.asyncio import serve
            from hypercorn.config import Config

            if self.config is None:
                self.config = Config()
                self.config.bind = [f"{HOST}:{self.port}"]
                self.config.accesslog = None
                self.config.loglevel = "CRITICAL"
            else:
                self.port = int(self.config.bind[0].rsplit(":", 1)[1])
            self.loop: Optional[asyncio.AbstractEventLoop] = None
            self.stop_event: Optional[asyncio.Event] = None

            async def main() -> None:
                self.loop = asyncio.get_running_loop()
                self.stop_event = asyncio.Event()
                await serve(app, self.config, shutdown_trigger=self.stop_event.wait)

            target = lambda: asyncio.run(main())  # noqa: E731

        def run() -> None:
            try:
                target()
            except BaseException as exc:  # reported by the scenario
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        wait_port(self.port, self.thread)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.kind == "uvicorn":
            self.server.should_exit = True
        elif self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(TIMEOUT)
        if self.thread.is_alive():
            raise RuntimeError("server did not stop")


class App:
    """Records what it sees; ``mode`` selects the lifespan's behaviour."""

    def __init__(self, mode: str = "mutate") -> None:
        self.mode = mode
        self.events: List[Any] = []
        self.runs = 0
        self.token: Any = None
        self.in_flight = 0
        self.entered = 0

    def report(self, running: Server, **observed: Any) -> Dict[str, Any]:
        """A scenario's result: what it observed, what the app saw, how the server run ended."""
        return {**observed, "events": self.events, "error": repr(running.error)}

    def describe(self, state: Any) -> Any:
        if not isinstance(state, dict):
            return repr(state)
        current = self.token is not None and state.get("token") is self.token
        return {"keys": sorted(state), "token_is_current_run": current}

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
        elif scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.websocket(scope, receive, send)

    async def lifespan(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if self.mode == "raise_on_lifespan":
            raise RuntimeError("this app does not do lifespan")
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.runs += 1
                self.token = object()
                state = scope.get("state")
                self.events.append({"startup": {"run": self.runs, "keys": self.describe(state)}})
                if self.mode == "replace":
                    # The app replaces the namespace instead of filling it.
                    scope["state"] = {"replaced": True, "token": self.token}
                else:
                    if isinstance(state, dict):  # the negative control runs without state
                        state["token"] = self.token
                        state["pool"] = {"run": self.runs}
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.events.append(
                    {"shutdown": {"keys": self.describe(scope.get("state")), "in_flight": self.in_flight}}
                )
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def respond(self, send: Any, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def http(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        state = scope.get("state")
        seen = self.describe(state)
        if isinstance(state, dict):
            state["written_by"] = path
        if path == "/boom":
            raise RuntimeError("request exploded")
        if path == "/read":
            # Read the whole body; a client that disconnects mid-body ends it with http.disconnect.
            kinds = []
            while True:
                message = await receive()
                kinds.append(message["type"])
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    break
            self.events.append({"read": kinds, "state": self.describe(state)})
            if kinds[-1] == "http.disconnect":
                return
        if path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            outcome = "completed"
            try:
                for _ in range(40):
                    await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
                    await asyncio.sleep(0.01)
                await send({"type": "http.response.body", "body": b""})
            except Exception as exc:  # some releases raise on send after a disconnect
                outcome = type(exc).__name__
            self.events.append({"stream": "ended", "state": self.describe(state)})
            del outcome  # whether send() raised differs between releases; not about state
            return
        if path == "/slow":
            self.in_flight += 1
            self.entered += 1
            await asyncio.sleep(1.0)
            self.in_flight -= 1
            seen = self.describe(state)
        await self.respond(send, 200, seen)

    async def websocket(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        state = scope.get("state")
        message = await receive()
        assert message["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        if isinstance(state, dict):
            state["ws"] = True
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.events.append({"ws_disconnect": message.get("code"), "state": self.describe(state)})
                return
            await send({"type": "websocket.send", "text": json.dumps(self.describe(state))})


# -- clients ----------------------------------------------------------------------------------


def get(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = None
        return [response.status, parsed]
    finally:
        conn.close()


def raw(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    return sock


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset (linger 0): the client vanishes mid-conversation."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def ws_open(port: int) -> Any:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request

    sock = raw(port)
    ws = WSConnection(ConnectionType.CLIENT)
    sock.sendall(ws.send(Request(host=HOST, target="/ws")))
    while True:
        ws.receive_data(sock.recv(65536))
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return sock, ws
            raise RuntimeError(f"websocket rejected: {event!r}")


def ws_roundtrip(sock: socket.socket, ws: Any) -> Any:
    from wsproto.events import Message

    sock.sendall(ws.send(Message(data="hello")))
    while True:
        ws.receive_data(sock.recv(65536))
        for event in ws.events():
            if isinstance(event, Message):
                return json.loads(event.data)


def ws_close(sock: socket.socket, ws: Any) -> None:
    from wsproto.events import CloseConnection

    sock.sendall(ws.send(CloseConnection(code=1000)))
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            ws.receive_data(data)
            if any(isinstance(event, CloseConnection) for event in ws.events()):
                break
    finally:
        sock.close()


def wait_until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting")
        time.sleep(0.02)


# -- scenarios --------------------------------------------------------------------------------


def request_raise(server: str) -> Dict[str, Any]:
    app = App()
    with Server(server, app) as running:
        results = [get(running.port, "/ok"), get(running.port, "/boom"), get(running.port, "/ok")]
        # and on one keep-alive connection: a failing request followed by good ones
        conn = http.client.HTTPConnection(HOST, running.port, timeout=TIMEOUT)
        keepalive: List[Any] = []
        for path in ("/ok", "/boom", "/ok"):
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                keepalive.append([response.status, json.loads(body) if response.status == 200 else None])
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection(HOST, running.port, timeout=TIMEOUT)
                keepalive.append("reconnect")
        conn.close()
    return app.report(running, fresh=results, keepalive=keepalive)


def disconnects(server: str) -> Dict[str, Any]:
    app = App()
    with Server(server, app) as running:
        port = running.port
        # 1. mid-request: announce 1000 body bytes, send 10, vanish.
        sock = raw(port)
        sock.sendall(b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"y" * 10)
        time.sleep(0.3)  # let the app take the first chunk: the disconnect comes mid-body
        sock.close()
        wait_until(lambda: any("read" in e for e in app.events))
        # 2. mid-response: read the start of a streamed response, vanish.
        sock = raw(port)
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(100)
        sock.close()
        wait_until(lambda: any("stream" in e for e in app.events))
        # 3. mid-WebSocket, no close frame: the client's socket is reset. (A clean EOF without a
        # close frame is not used: uvicorn 0.17.6's wsproto protocol then never tells the app,
        # with or without the shim, and the server cannot shut down — an upstream bug.)
        sock, ws = ws_open(port)
        first = ws_roundtrip(sock, ws)
        reset(sock)
        wait_until(lambda: any("ws_disconnect" in e for e in app.events))
        # 4. mid-WebSocket, a close frame with a code.
        from wsproto.events import CloseConnection

        sock, ws = ws_open(port)
        ws_roundtrip(sock, ws)
        sock.sendall(ws.send(CloseConnection(code=1001)))
        wait_until(lambda: sum("ws_disconnect" in e for e in app.events) >= 2)
        sock.close()
        after = [get(port, "/ok"), get(port, "/ok")]
    return app.report(running, ws_first=first, after=after)


def shutdown_inflight(server: str) -> Dict[str, Any]:
    app = App()
    results: List[Any] = []
    # Leaving the block stops the server gracefully: in-flight requests finish, then the lifespan
    # shuts down.
    with Server(server, app) as running:
        port = running.port
        threads = [threading.Thread(target=lambda: results.append(get(port, "/slow"))) for _ in range(4)]
        for thread in threads:
            thread.start()
        wait_until(lambda: app.entered == 4)
    for thread in threads:
        thread.join(TIMEOUT)
    return app.report(running, responses=results)


def two_runs(server: str) -> Dict[str, Any]:
    """One app and one config served twice in one process: each run starts empty."""
    app = App()
    first = Server(server, app)
    seen = [get(first.port, "/ok")]
    first.stop()
    with Server(server, app, config=first.config) as second:
        seen.append(get(second.port, "/ok"))
    return {"seen": seen, "events": app.events, "errors": [repr(first.error), repr(second.error)]}


def replace_state(server: str) -> Dict[str, Any]:
    app = App("replace")
    with Server(server, app) as running:
        seen = [get(running.port, "/ok"), get(running.port, "/ok")]
        sock, ws = ws_open(running.port)
        ws_seen = ws_roundtrip(sock, ws)
        ws_close(sock, ws)
    return app.report(running, seen=seen, ws=ws_seen)


def lifespan_unsupported(server: str) -> Dict[str, Any]:
    """An app that raises on the lifespan scope, lifespan 'auto': requests still get a dict."""
    app = App("raise_on_lifespan")
    with Server(server, app, lifespan="auto") as running:
        seen = [get(running.port, "/ok"), get(running.port, "/ok")]
    return app.report(running, seen=seen)


SCENARIOS = {
    f.__name__: f
    for f in (request_raise, disconnects, shutdown_inflight, two_runs, replace_state, lifespan_unsupported)
}


def main() -> None:
    server, names = sys.argv[1], sys.argv[2]
    if "--shim" in sys.argv[3:]:
        import lifespan_state

        lifespan_state.activate(server)
    # One interpreter for several scenarios ("a,b" or "all"): each starts its own server runs.
    chosen = list(SCENARIOS) if names == "all" else names.split(",")
    print(json.dumps({name: SCENARIOS[name](server) for name in chosen}, sort_keys=True))


if __name__ == "__main__":
    main()
