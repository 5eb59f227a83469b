"""``tools/soak.py``'s probe server on hypercorn (run in the release's environment)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any


def serve(app: Any, port: int, keep_alive: float) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` with the asyncio worker until SIGINT/SIGTERM."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.loglevel = "WARNING"
    config.keep_alive_timeout = keep_alive

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    asyncio.run(main())
