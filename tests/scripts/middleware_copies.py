"""How many copies of the state a request costs on our side: ``LifespanStateMiddleware`` (twice)
under an active shim. Usage: python middleware_copies.py HARNESS (``testclient``,
``asgi-lifespan`` or ``uvicorn``).

Prints one JSON line: the requests made, the copies the middleware made, the ``StateApp`` objects
the shim made (none: it adds nothing in front of the middleware) and the explaining copies of the
harness shims (none either).
"""

import asyncio
import json
import sys
import threading
import time
import urllib.request
from typing import Any, Dict

import lifespan_state
from lifespan_state import _core, _harness, _middleware

REQUESTS = 3
counts: Dict[str, int] = {"middleware_copies": 0, "state_apps": 0, "explaining": 0}


def _count(owner: Any, name: str, key: str) -> None:
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[key] += 1
        return original(*args, **kwargs)

    setattr(owner, name, counted)


_count(_middleware._Run, "request_state", "middleware_copies")
_count(_core.StateApp, "__init__", "state_apps")
_count(_harness.RequestState, "__init__", "explaining")


async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        scope["state"]["pool"] = "the pool"
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = json.dumps(sorted(scope["state"])).encode()
    headers = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(harness: str) -> None:
    lifespan_state.activate()
    wrapped = lifespan_state.LifespanStateMiddleware(lifespan_state.LifespanStateMiddleware(app))
    seen = []
    if harness == "testclient":
        from starlette.testclient import TestClient

        with TestClient(wrapped) as client:
            seen = [client.get("/").json() for _ in range(REQUESTS)]
    elif harness == "asgi-lifespan":
        import httpx
        from asgi_lifespan import LifespanManager

        async def run() -> None:
            async with LifespanManager(wrapped) as manager:
                transport = httpx.ASGITransport(app=manager.app)  # type: ignore[arg-type]
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    for _ in range(REQUESTS):
                        seen.append((await client.get("/")).json())

        asyncio.run(run())
    else:
        import socket

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(wrapped, host="127.0.0.1", port=port, lifespan="on",
                                               log_level="warning"))
        thread = threading.Thread(target=server.run)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(REQUESTS):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
                seen.append(json.loads(response.read()))
        server.should_exit = True
        thread.join(30)
    print(json.dumps({"requests": len(seen), "seen": seen, **counts}))


if __name__ == "__main__":
    main(sys.argv[1])
