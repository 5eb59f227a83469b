"""hypercorn >= 0.14 shape: apps are wrapped (``wrap_app``), no ``invoke_asgi``."""

from typing import Any


def wrap_app(app: Any, wsgi_max_body_size: int, mode: Any) -> Any:
    return app
