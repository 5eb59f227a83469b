"""Run activation steps in the order given on the command line, then serve real requests.

Usage: python activation_order.py STEP[,STEP...]   with STEP in import|activate|deactivate|auto
Prints one JSON line: how many of our wrappers sit on LifespanOn.__init__, the status the shim
reports, and what two requests on one keep-alive connection saw in scope["state"].
"""

from __future__ import annotations

import asyncio
import http.client
import importlib
import json
import sys
import threading
import time

import lifespan_state

POOL = object()


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if "state" in scope:
                    scope["state"]["pool"] = POOL
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await receive()
    state = scope.get("state")
    body = {
        "has_state": state is not None,
        "keys": sorted(state) if state is not None else None,
        "pool_is_lifespan_object": state is not None and state.get("pool") is POOL,
    }
    if state is not None:
        state["written_by_request"] = True
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


def main() -> None:
    for step in sys.argv[1].split(","):
        if step == "import":
            import uvicorn
        elif step == "activate":
            lifespan_state.activate("uvicorn")
        elif step == "deactivate":
            lifespan_state.deactivate("uvicorn")
        elif step == "auto":
            importlib.import_module("lifespan_state.auto")
        else:
            raise SystemExit(f"unknown step {step}")
    import uvicorn
    from uvicorn.lifespan.on import LifespanOn

    from lifespan_state._patching import wrapper_depth
    from lifespan_state.check._runner import free_port

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(2):
            conn.request("GET", "/")
            seen.append(json.loads(conn.getresponse().read()))
        conn.close()
    finally:
        server.should_exit = True
        thread.join(20)
    print(
        json.dumps(
            {
                "depth": wrapper_depth(vars(LifespanOn)["__init__"]),
                "init_is_plain_function": type(vars(LifespanOn)["__init__"]).__name__ == "function",
                "status": lifespan_state.status()["uvicorn"].as_dict(),
                "seen": seen,
            }
        )
    )


main()
