"""``tools/soak.py``'s probe server on gunicorn's own ASGI worker (run in the release's environment)."""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any


def serve(app: Any, port: int, keep_alive: float) -> None:
    """``-k asgi``, one worker, serving ``app`` on 127.0.0.1:``port`` until SIGTERM/SIGINT.

    gunicorn's master treats SIGINT as a quick shutdown that skips ``lifespan.shutdown``, while
    the soak stops every server with SIGINT and reads the shutdown report: the master runs in a
    forked child, and this process turns SIGINT into the SIGTERM of gunicorn's graceful stop.
    """
    from gunicorn.app.base import BaseApplication

    class Soaked(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            # asgi_disconnect_grace_period: a closed connection's protocol object stays referenced
            # by this timer (3 s by default) even when its task is done; the keep-alive time, like
            # the keep-alive timer, so that the soak's quiet samples see the connections gone.
            settings = {"bind": f"127.0.0.1:{port}", "workers": 1, "worker_class": "asgi",
                        "loglevel": "warning", "keepalive": keep_alive,
                        "asgi_disconnect_grace_period": keep_alive,
                        "control_socket_disable": True}  # fmt: skip
            for name, value in settings.items():
                if name in self.cfg.settings:  # a release lacks some (control sockets: 26.x on)
                    self.cfg.set(name, value)

        def load(self) -> Any:
            return app

    child = os.fork()
    if child == 0:
        try:
            Soaked().run()
        finally:
            os._exit(0)

    def stop(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    os.waitpid(child, 0)
