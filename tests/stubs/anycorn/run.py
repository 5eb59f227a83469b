"""``worker_serve(app, config, *, sockets=None, shutdown_trigger=None)``: one server run.

The stub serves nothing: it returns the app it was handed, so a test sees what the shim put there.
"""

from typing import Any, Optional


def worker_serve(
    app: Any, config: Any, *, sockets: Optional[Any] = None, shutdown_trigger: Any = None
) -> Any:
    return app
