"""Soak: many requests of every kind through one shimmed server, counting state violations.

Full size (the figures in docs/guarantees.md)::

    python -m tools.soak --requests 100000 --concurrency 64   # each server's "soaked" release

One run per server: a per-release environment (``tools.envs``) gets a probe server process with
the shim activated (``serve``) and an asyncio load client (``load``). The client mixes HTTP/1.1
keep-alive runs (sometimes followed by a WebSocket on the same socket), one-request connections,
WebSocket sessions and — where the server speaks it — HTTP/2 connections with concurrent streams.

Every request (HTTP request, HTTP/2 stream, WebSocket message) checks that its ``state`` holds the
lifespan's keys with the lifespan's objects and nothing else, writes a unique key of its own, yields
to the event loop, and checks again. The *server* counts violations; the lifespan checks at shutdown
that its own dict never received a request's key and that a shared value (``pool["hits"]``) saw
every request (shallow copies). Server RSS and the count of gc-tracked objects are sampled during
the run; growth is measured between quiet points (nothing in flight, garbage collected, the count
settled: ``_Load._quiet_sample``) after the warm-up half and at the end.

``serve`` and ``load`` run inside the per-release environment (Python 3.8+, only the server,
h11 / h2 / wsproto and this project); ``serve`` starts the server the way its integration's
descriptor says (``soak``). ``run_soak`` and the command line run in the project's own Python.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from lifespan_state._integrations._load import by_name, integrations

__all__ = ["MAX_GROWTH_KIB", "MAX_OBJECT_GROWTH", "SoakResult", "main", "problems", "run_soak"]

#: Keys the probe lifespan stores; a request must see exactly these (plus its own).
LIFESPAN_KEYS = frozenset({"token", "pool", "stats"})
STATS_PATH = "/__soak_stats"
IO_TIMEOUT = 20.0
#: The servers' keep-alive timeout. A closed connection's keep-alive timer (and what it holds)
#: lives until the timer fires, so the quiet samples wait a little longer than this.
KEEP_ALIVE_S = 1
#: A quiet sample is taken again until the object count has not fallen for this long (twice the
#: longest server timer that holds a closed connection), at most SETTLE_MAX_S; see _quiet_sample.
SETTLE_WINDOW_S = 2.0 * KEEP_ALIVE_S
SETTLE_MAX_S = 30.0
#: A fall of fewer objects than this is sampling noise (the stats request's own), not settling.
SETTLE_NOISE = 50
#: What a passing soak may grow by over its second half (``problems``, ``--max-*``).
MAX_GROWTH_KIB = 8192
MAX_OBJECT_GROWTH = 500

SoakResult = Dict[str, Any]
#: The servers ``serve`` can run: those whose descriptor says how (``soak``), by rank.
SERVABLE = tuple(i.name for i in integrations() if i.soak)
#: The servers the default soak runs, each at its ``tools.releases`` "soaked" release.
SOAKED = tuple(i.name for i in integrations() if i.soak and i.soak.default)


# --------------------------------------------------------------------------------------------
# Server side: the probe app (runs inside the per-release environment)
# --------------------------------------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class ProbeApp:
    """Plain ASGI 3 app that checks state isolation on every scope and counts violations."""

    def __init__(self, result_path: Optional[str], leak: bool = False) -> None:
        self.result_path = result_path
        self.leak = leak
        self.leaked: List[Any] = []
        self.token = object()
        self.lifespan_state: Optional[Dict[str, Any]] = None
        self.counter = itertools.count()
        self.stats: Dict[str, Any] = {
            "http": 0,
            "websocket": 0,
            "ws_messages": 0,
            "violations": 0,
            "examples": [],
        }

    # -- checks -------------------------------------------------------------------------------
    def _problem(self, state: Any, own: Set[str]) -> Optional[str]:
        if not isinstance(state, dict):
            return f"state is {type(state).__name__}, not a dict"
        if state is self.lifespan_state:
            return "request got the lifespan dict itself"
        if state.get("token") is not self.token:
            return "lifespan token missing or not the lifespan's object"
        keys = set(state)
        extra = keys - LIFESPAN_KEYS - own
        if extra:
            return f"foreign keys {sorted(extra)[:3]}"
        missing = (LIFESPAN_KEYS | own) - keys
        if missing:
            return f"missing keys {sorted(missing)[:3]}"
        if self.lifespan_state is not None and set(self.lifespan_state) != LIFESPAN_KEYS:
            return f"lifespan dict polluted: {sorted(set(self.lifespan_state) - LIFESPAN_KEYS)[:3]}"
        return None

    def _violation(self, problem: str) -> None:
        self.stats["violations"] += 1
        if len(self.stats["examples"]) < 10:
            self.stats["examples"].append(problem)

    def _use(self, state: Any, own: Set[str], key: str) -> Optional[str]:
        problem = self._problem(state, own)
        if isinstance(state, dict):
            state[key] = key
            own.add(key)
            pool = state.get("pool")
            if isinstance(pool, dict):
                pool["hits"] += 1
        return problem

    # -- ASGI ---------------------------------------------------------------------------------
    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)

    async def _lifespan(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state = scope.get("state")
                if not isinstance(state, dict):
                    await send(
                        {"type": "lifespan.startup.failed", "message": "the server gave no lifespan state"}
                    )
                    return
                state.update(token=self.token, pool={"hits": 0}, stats=self.stats)
                self.lifespan_state = state
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                state = scope.get("state")
                report = {
                    "stats": self.stats,
                    "shutdown_keys": sorted(state) if isinstance(state, dict) else None,
                    "shutdown_same_dict": state is self.lifespan_state,
                    "shutdown_token_ok": isinstance(state, dict) and state.get("token") is self.token,
                    "pool_hits": state["pool"]["hits"] if isinstance(state, dict) else None,
                    "rss_kib": _rss_kib(),
                }
                if self.result_path:
                    Path(self.result_path).write_text(json.dumps(report))
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == STATS_PATH:
            if scope.get("query_string") == b"collect":
                gc.collect()
            # gc-tracked objects: a leak of per-request dicts shows here exactly, free of the
            # allocator noise RSS carries (in-flight requests account for a few hundred).
            body = json.dumps(dict(self.stats, rss_kib=_rss_kib(), objects=len(gc.get_objects()))).encode()
        else:
            self.stats["http"] += 1
            state = scope.get("state")
            own: Set[str] = set()
            problem = self._use(state, own, f"req-{next(self.counter)}")
            more = True
            while more:  # read the body: every receive() is a point where other requests run
                message = await receive()
                more = message.get("more_body", False)
            await asyncio.sleep(0)
            problem = problem or self._problem(state, own)
            if problem:
                self._violation(problem)
            if self.leak:  # negative control for the memory measurement
                self.leaked.append((dict(state or {}), bytes(4096)))
            body = b"ok" if problem is None else problem.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _websocket(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        self.stats["websocket"] += 1
        state = scope.get("state")
        own: Set[str] = set()
        n = next(self.counter)
        problem = self._use(state, own, f"ws-{n}")
        if problem:
            self._violation(problem)
        await send({"type": "websocket.accept"})
        for k in itertools.count():
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            self.stats["ws_messages"] += 1
            problem = self._use(state, own, f"ws-{n}-{k}")
            await asyncio.sleep(0)
            problem = problem or self._problem(state, own)
            if problem:
                self._violation(problem)
            await send({"type": "websocket.send", "text": "ok" if problem is None else problem})


def serve(server: str, port: int, result: Optional[str], shim: bool, leak: bool) -> None:
    """Run the probe app on 127.0.0.1:``port`` in this process until SIGTERM/SIGINT."""
    if shim:
        import lifespan_state

        lifespan_state.activate(server)
    app = ProbeApp(result, leak=leak)
    integration = by_name(server)
    if integration.soak is None:
        raise SystemExit(f"{server}: its descriptor does not say how to soak it (servable: {SERVABLE})")
    integration.resolve(integration.soak.serve)(app, port, KEEP_ALIVE_S)


# --------------------------------------------------------------------------------------------
# Client side: the asyncio load client (runs inside the per-release environment)
# --------------------------------------------------------------------------------------------


class _Load:
    def __init__(self, port: int, total: int, concurrency: int, http2: bool, seed: int) -> None:
        self.port = port
        self.total = total
        self.remaining = total
        self.concurrency = concurrency
        self.rng = random.Random(seed)
        self.done: Dict[str, int] = {"h1_keepalive": 0, "h1_close": 0, "h2_stream": 0, "websocket": 0}
        self.ws_messages = 0
        self.connections = 0
        self.client_violations = 0
        self.errors: List[str] = []
        self.samples: List[Tuple[int, int, int]] = []
        self.quiet: List[Tuple[int, int, int]] = []
        weights = {"keepalive": 40, "close": 25, "websocket": 15, "h2": 20 if http2 else 0}
        self.kinds = [k for k, w in weights.items() for _ in range(w)]

    @property
    def completed(self) -> int:
        return sum(self.done.values())

    def take(self, wanted: int) -> int:
        got = min(wanted, self.remaining)
        self.remaining -= got
        return got

    async def _open(self) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.connections += 1
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), IO_TIMEOUT)

    def _check_body(self, body: bytes) -> None:
        if body != b"ok":
            self.client_violations += 1

    # -- HTTP/1.1 ------------------------------------------------------------------------------
    async def _h1(
        self,
        conn: Any,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        target: str,
        body: bytes,
        close: bool,
    ) -> bytes:
        import h11

        headers = [("host", "127.0.0.1"), ("content-length", str(len(body)))]
        if close:
            headers.append(("connection", "close"))
        method = "POST" if body else "GET"
        data = conn.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
        writer.write(data)
        await writer.drain()
        chunks: List[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await asyncio.wait_for(reader.read(65536), IO_TIMEOUT))
            elif isinstance(event, h11.Response):
                if event.status_code != 200:
                    raise RuntimeError(f"HTTP {event.status_code}")
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise RuntimeError("connection closed mid-response")

    async def keepalive(self) -> None:
        import h11

        n = self.take(self.rng.randint(2, 16))
        if not n:
            return
        then_ws = self.rng.random() < 0.25
        reader, writer = await self._open()
        try:
            conn = h11.Connection(h11.CLIENT)
            for _ in range(n):
                body = bytes(self.rng.randint(1, 2000)) if self.rng.random() < 0.3 else b""
                self._check_body(await self._h1(conn, reader, writer, "/r", body, close=False))
                self.done["h1_keepalive"] += 1
                if conn.our_state is h11.MUST_CLOSE:  # the server ended keep-alive: go on anew
                    writer.close()
                    reader, writer = await self._open()
                    conn = h11.Connection(h11.CLIENT)
                else:
                    conn.start_next_cycle()
            if then_ws and self.take(1):
                # S6: a WebSocket after HTTP requests on the very same socket.
                await self._ws_session(reader, writer)
        finally:
            writer.close()

    async def close(self) -> None:
        import h11

        if not self.take(1):
            return
        reader, writer = await self._open()
        try:
            conn = h11.Connection(h11.CLIENT)
            self._check_body(await self._h1(conn, reader, writer, "/c", b"", close=True))
            self.done["h1_close"] += 1
        finally:
            writer.close()

    # -- WebSocket over HTTP/1.1 ---------------------------------------------------------------
    async def _ws_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, CloseConnection, Message, RejectConnection, Request

        ws = WSConnection(ConnectionType.CLIENT)
        writer.write(ws.send(Request(host="127.0.0.1", target="/ws")))
        await writer.drain()

        async def next_event() -> Any:
            while True:
                for event in ws.events():
                    return event
                data = await asyncio.wait_for(reader.read(65536), IO_TIMEOUT)
                ws.receive_data(data or None)
                if not data:
                    raise RuntimeError("websocket: connection closed")

        event = await next_event()
        if isinstance(event, RejectConnection) or not isinstance(event, AcceptConnection):
            raise RuntimeError(f"websocket not accepted: {event!r}")
        for _ in range(self.rng.randint(2, 6)):
            writer.write(ws.send(Message(data="m")))
            await writer.drain()
            event = await next_event()
            if not isinstance(event, Message):
                raise RuntimeError(f"websocket: unexpected {event!r}")
            if event.data != "ok":
                self.client_violations += 1
            self.ws_messages += 1
        writer.write(ws.send(CloseConnection(code=1000)))
        await writer.drain()
        try:
            while not isinstance(await next_event(), CloseConnection):
                pass
        except RuntimeError:
            pass  # the server may drop the socket right after its close frame
        self.done["websocket"] += 1

    async def websocket(self) -> None:
        if not self.take(1):
            return
        reader, writer = await self._open()
        try:
            await self._ws_session(reader, writer)
        finally:
            writer.close()

    # -- HTTP/2 (prior knowledge, cleartext) ---------------------------------------------------
    async def h2(self) -> None:
        import h2.config
        import h2.connection
        import h2.events

        n = self.take(self.rng.randint(4, 24))
        if not n:
            return
        reader, writer = await self._open()
        try:
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            bodies: Dict[int, List[bytes]] = {}
            for i in range(n):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(
                    sid,
                    [
                        (":method", "GET"),
                        (":path", f"/h2/{i}"),
                        (":scheme", "http"),
                        (":authority", "127.0.0.1"),
                    ],
                    end_stream=True,
                )
                bodies[sid] = []
            writer.write(conn.data_to_send())
            await writer.drain()
            pending = set(bodies)
            while pending:
                data = await asyncio.wait_for(reader.read(65536), IO_TIMEOUT)
                if not data:
                    raise RuntimeError("h2: connection closed")
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        status = dict(event.headers).get(b":status")
                        if status != b"200":
                            raise RuntimeError(f"h2 status {status!r}")
                    elif isinstance(event, h2.events.DataReceived):
                        bodies[event.stream_id].append(event.data)
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        pending.discard(event.stream_id)
                        self._check_body(b"".join(bodies[event.stream_id]))
                        self.done["h2_stream"] += 1
                    elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                        raise RuntimeError(f"h2: {event!r}")
                writer.write(conn.data_to_send())
                await writer.drain()
            conn.close_connection()
            writer.write(conn.data_to_send())
        finally:
            writer.close()

    # -- driver --------------------------------------------------------------------------------
    async def _worker(self) -> None:
        while self.remaining > 0:
            kind = self.rng.choice(self.kinds)
            try:
                await getattr(self, kind)()
            except Exception as exc:  # counted and reported; a client error fails the soak
                if len(self.errors) < 1000:
                    self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")

    async def _stats(self, collect: bool = False) -> Dict[str, Any]:
        import h11

        target = STATS_PATH + ("?collect" if collect else "")
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), IO_TIMEOUT)
        try:
            body = await self._h1(h11.Connection(h11.CLIENT), reader, writer, target, b"", close=True)
            return dict(json.loads(body))
        finally:
            writer.close()

    async def _sample(self, collect: bool = False) -> Dict[str, Any]:
        stats = await self._stats(collect)
        self.samples.append((self.completed, int(stats["rss_kib"]), int(stats["objects"])))
        return stats

    async def _monitor(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._sample()
            except Exception as exc:
                self.errors.append(f"stats: {exc}")

    async def _quiet_sample(self) -> Dict[str, Any]:
        # With no request in flight and garbage collected, the object count is what a leak leaves
        # behind plus what the server still holds for connections already closed: a timer's
        # reference (keep-alive, a disconnect grace period) lasts until the timer fires,
        # and a loaded machine fires it late. One sample at a fixed delay counted the connections
        # of the last few seconds, however many load left there. So the count is sampled until it
        # has not fallen for SETTLE_WINDOW_S (closed connections go, a leak stays) and the lowest
        # sample is the quiet point.
        await asyncio.sleep(KEEP_ALIVE_S + 0.5)
        lowest = await self._sample(collect=True)
        point = self.samples[-1]
        fell_at = start = time.monotonic()
        while time.monotonic() - fell_at < SETTLE_WINDOW_S and time.monotonic() - start < SETTLE_MAX_S:
            await asyncio.sleep(0.25)
            stats = await self._sample(collect=True)
            if stats["objects"] < lowest["objects"] - SETTLE_NOISE:
                fell_at = time.monotonic()
            if stats["objects"] < lowest["objects"]:
                lowest, point = stats, self.samples[-1]
        self.quiet.append(point)
        return lowest

    async def run(self, deadline: float) -> Dict[str, Any]:
        start = time.monotonic()
        end = start + deadline
        await self._quiet_sample()
        monitor = asyncio.ensure_future(self._monitor(0.25))
        timed_out = False
        try:
            # Two halves with a quiet point between them: the first half is warm-up (allocator
            # arenas, free lists, the server's caches); growth is measured over the second.
            for half, share in enumerate((self.total // 2, self.total - self.total // 2)):
                self.remaining = share
                workers = [asyncio.ensure_future(self._worker()) for _ in range(self.concurrency)]
                try:
                    await asyncio.wait_for(asyncio.gather(*workers), max(end - time.monotonic(), 0.1))
                except asyncio.TimeoutError:
                    timed_out = True
                    break
                if half == 0:
                    await self._quiet_sample()
        finally:
            monitor.cancel()
        elapsed = time.monotonic() - start
        final = await self._quiet_sample()
        return {
            "requests": self.completed,
            "by_kind": dict(self.done),
            "ws_messages": self.ws_messages,
            "connections": self.connections,
            "concurrency": self.concurrency,
            "elapsed_s": round(elapsed, 2),
            "timed_out": timed_out,
            "client_violations": self.client_violations,
            "errors": len(self.errors),
            "error_examples": self.errors[:5],
            "server_stats": final,
            "samples": self.samples,
            "quiet_samples": self.quiet,
        }


def load(port: int, total: int, concurrency: int, http2: bool, seed: int, deadline: float) -> Dict[str, Any]:
    return asyncio.run(_Load(port, total, concurrency, http2, seed).run(deadline))


# --------------------------------------------------------------------------------------------
# Driver (runs in the project's Python)
# --------------------------------------------------------------------------------------------


def growth(quiet: List[List[int]], column: int) -> int:
    """Growth of ``column`` (1: RSS KiB, 2: gc-tracked objects) over the second half of the run.

    ``quiet`` holds the samples taken with nothing in flight: before the run, after the first
    half (the warm-up: the allocator, free lists and the server's caches fill up there; a native
    server's RSS grows the same way) and after the second half.
    """
    return quiet[-1][column] - quiet[1 if len(quiet) > 2 else 0][column]


def run_soak(
    server: str,
    version: str,
    requests: int = 100_000,
    concurrency: int = 64,
    *,
    shim: bool = True,
    leak: bool = False,
    http2: Optional[bool] = None,
    seed: int = 1,
    deadline: float = 900.0,
    python: str = "3.11",
) -> SoakResult:
    """Soak one server release; the result holds the counts, violations and memory figures."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from lifespan_state.check._runner import ServerProcess, free_port
    from tools.envs import EnvSpec, ensure_env

    venv = ensure_env(EnvSpec(server, version, python=python, extra=("wsproto", "h2")))
    interpreter = str(venv / "bin" / "python")
    if http2 is None:
        soak = by_name(server).soak
        http2 = bool(soak and soak.http2)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        result_file = os.path.join(tmp, "shutdown.json")
        cmd = [interpreter, __file__, "serve", "--server", server, "--port", str(port)]
        cmd += ["--result", result_file]
        if not shim:
            cmd.append("--no-shim")
        if leak:
            cmd.append("--leak")
        # The kit's one stop sequence: SIGINT first, so the lifespan shutdown (which writes the
        # shutdown report) runs.
        probe = ServerProcess(cmd, port=port, start_timeout=30, stop_timeout=30)
        with probe:
            load_argv = [
                interpreter, __file__, "load", "--port", str(port), "--requests", str(requests),
                "--concurrency", str(concurrency), "--seed", str(seed), "--deadline", str(deadline),
            ]
            if http2:
                load_argv.append("--http2")
            client = subprocess.run(load_argv, capture_output=True, timeout=deadline + 60)
            if client.returncode != 0:
                raise RuntimeError(f"load client failed: {client.stderr.decode()[-2000:]}")
            result: SoakResult = json.loads(client.stdout)
        result["shutdown"] = (
            json.loads(Path(result_file).read_text()) if os.path.exists(result_file) else None
        )
        result["server_log_tail"] = probe.output[-3000:]
    result.update(
        server=server,
        version=version,
        shim=shim,
        violations=result["server_stats"]["violations"],
        memory_growth_kib=growth(result["quiet_samples"], 1),
        object_growth=growth(result["quiet_samples"], 2),
        rss_start_kib=result["samples"][0][1],
        rss_end_kib=result["samples"][-1][1],
    )
    return result


def problems(
    result: SoakResult,
    requests: int,
    max_growth_kib: Optional[int] = MAX_GROWTH_KIB,
    max_object_growth: int = MAX_OBJECT_GROWTH,
) -> List[str]:
    """Everything that makes a soak run fail (empty: it passed).

    ``max_growth_kib=None`` leaves RSS unjudged: RSS carries the allocator's noise (arenas kept
    from the busiest moment, which load moves), while the gc-tracked object count, measured
    settled, is exact; the default test suite judges only the latter.
    """
    found = []
    if result["requests"] != requests or result["timed_out"]:
        found.append(f"{result['requests']} of {requests} requests done (timed out: {result['timed_out']})")
    if result["violations"] or result["client_violations"]:
        found.append(f"{result['violations']} violations, e.g. {result['server_stats']['examples'][:3]}")
    if result["errors"]:
        found.append(f"{result['errors']} client errors, e.g. {result['error_examples'][:3]}")
    shutdown = result["shutdown"]
    if not shutdown:
        found.append("no shutdown report: the lifespan shutdown did not run")
    else:
        if shutdown["shutdown_keys"] != sorted(LIFESPAN_KEYS) or not shutdown["shutdown_same_dict"]:
            found.append(f"lifespan dict at shutdown: {shutdown['shutdown_keys']}")
        scopes = shutdown["stats"]["http"] + shutdown["stats"]["ws_messages"] + shutdown["stats"]["websocket"]
        if shutdown["pool_hits"] != scopes:
            found.append(f"shared value saw {shutdown['pool_hits']} of {scopes} uses (not shallow?)")
    if max_growth_kib is not None and result["memory_growth_kib"] > max_growth_kib:
        found.append(f"server RSS grew {result['memory_growth_kib']} KiB in the second half")
    if result["object_growth"] > max_object_growth:
        found.append(f"server gained {result['object_growth']} gc-tracked objects in the second half")
    return found


def _summary(result: SoakResult) -> str:
    return (
        f"{result['server']} {result['version']} shim={'on' if result['shim'] else 'off'}: "
        f"{result['requests']} requests ({result['by_kind']}, {result['ws_messages']} ws messages, "
        f"{result['connections']} connections) at concurrency {result['concurrency']} in "
        f"{result['elapsed_s']} s; violations {result['violations']}; client errors {result['errors']}; "
        f"RSS {result['rss_start_kib']} -> {result['rss_end_kib']} KiB; second-half growth "
        f"{result['memory_growth_kib']} KiB, {result['object_growth']} objects"
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    p_serve = sub.add_parser("serve", help="(inside a release environment) run the probe server")
    p_serve.add_argument("--server", required=True, choices=SERVABLE)
    p_serve.add_argument("--port", type=int, required=True)
    p_serve.add_argument("--result")
    p_serve.add_argument("--no-shim", action="store_true")
    p_serve.add_argument("--leak", action="store_true")
    p_load = sub.add_parser("load", help="(inside a release environment) run the load client")
    p_load.add_argument("--port", type=int, required=True)
    p_load.add_argument("--requests", type=int, required=True)
    p_load.add_argument("--concurrency", type=int, default=64)
    p_load.add_argument("--seed", type=int, default=1)
    p_load.add_argument("--deadline", type=float, default=900)
    p_load.add_argument("--http2", action="store_true")
    parser.add_argument(
        "--server",
        action="append",
        metavar="NAME==VERSION",
        help="server release to soak (repeatable; default: each server's tools.releases 'soaked')",
    )
    parser.add_argument("--python", default="3.11", help="Python of the server environments")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-growth-kib", type=int, default=MAX_GROWTH_KIB)
    parser.add_argument("--max-object-growth", type=int, default=MAX_OBJECT_GROWTH)
    parser.add_argument("--no-shim", action="store_true", help="negative control: run without the shim")
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    args = parser.parse_args(argv)

    if args.command == "serve":
        serve(args.server, args.port, args.result, not args.no_shim, args.leak)
        return 0
    if args.command == "load":
        print(
            json.dumps(load(args.port, args.requests, args.concurrency, args.http2, args.seed, args.deadline))
        )
        return 0
    failed = False
    results = []
    from tools.releases import SERVERS

    for item in args.server or [f"{name}=={SERVERS[name].soaked}" for name in SOAKED]:
        name, _, version = item.partition("==")
        result = run_soak(
            name, version, args.requests, args.concurrency, shim=not args.no_shim, python=args.python
        )
        results.append(result)
        found = problems(result, args.requests, args.max_growth_kib, args.max_object_growth)
        print(_summary(result), "-> PASS" if not found else "-> FAIL", flush=True)
        for problem in found:
            print("   ", problem)
        failed = failed or bool(found)
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
