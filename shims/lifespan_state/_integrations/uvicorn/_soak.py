"""``tools/soak.py``'s probe server on uvicorn (run in the release's environment)."""

from __future__ import annotations

from typing import Any


def serve(app: Any, port: int, keep_alive: float) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until SIGINT/SIGTERM (uvicorn handles both gracefully)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        ws="wsproto",
        http="h11",
        access_log=False,
        timeout_keep_alive=keep_alive,
    )
    uvicorn.Server(config).run()
