"""uvicorn's part of the check kit, run in the checked environment (``lifespan_state.check._driver``):
the release's options (``capabilities``) and the in-process S9 driver (``drive``)."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple

from ...check._driver import HOST, PROBE_APP, Json, installed, on_asyncio

__all__ = ["capabilities", "drive"]


def drive(options: Dict[str, str], timeout: float) -> Json:
    """The S9 scenarios on ``uvicorn.Server``, one event loop for all of them."""
    import uvicorn

    def make(port: int) -> Any:
        kwargs: Dict[str, Any] = {"host": HOST, "port": port, "log_level": "warning",
                                  "lifespan": "on" if options.get("lifespan") != "off" else "off"}
        kwargs.update({k: options[k] for k in ("http", "ws") if k in options})
        if kwargs.get("http") == "zttp":  # as the recipe's option value: zttp with its HTTP/2 on
            kwargs["http2"] = True
        return uvicorn.Config(PROBE_APP, **kwargs)

    def serve(config: Any) -> Tuple[Awaitable[Any], Callable[[], None]]:
        server = uvicorn.Server(config)
        return server.serve(), lambda: setattr(server, "should_exit", True)

    return asyncio.run(on_asyncio(serve, make, timeout))


def capabilities() -> Json:
    """The protocol implementations, loops and lifespan modes this environment can run."""
    import uvicorn.config as c

    needs = {"httptools": "httptools", "zttp": "zttp", "websockets": "websockets",
             "websockets-sansio": "websockets", "wsproto": "wsproto", "uvloop": "uvloop"}

    def usable(key: str) -> bool:
        return key not in needs or importlib.util.find_spec(needs[key]) is not None

    def resolve(table: Dict[str, str]) -> Optional[str]:
        # What uvicorn's "auto" picks in this environment, as the option value naming it.
        module, _, attr = table["auto"].partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except Exception:
            return None
        if obj is None:
            return "none"
        target = f"{obj.__module__}:{obj.__name__}"
        return next((key for key, value in table.items() if key != "auto" and value == target), None)

    http = [k for k in c.HTTP_PROTOCOLS if k != "auto" and usable(k)]
    ws = [k for k in c.WS_PROTOCOLS if k != "auto" and usable(k)]
    loops = getattr(c, "LOOP_SETUPS", None) or getattr(c, "LOOP_FACTORIES", None) or {}
    return {
        **installed("uvicorn"),
        "choices": {"http": http, "ws": ws, "lifespan": [k for k in ("on", "auto", "off") if k in c.LIFESPAN],
                    "worker": [k for k in ("asyncio", "uvloop") if k in loops and usable(k)]},
        # asyncio, not uvicorn's "auto": releases < 0.15 break on uvloop >= 0.22.
        "defaults": {"http": resolve(c.HTTP_PROTOCOLS) or "h11",
                     "ws": resolve(c.WS_PROTOCOLS) or ("wsproto" if "wsproto" in ws else "none"),
                     "lifespan": "auto", "worker": "asyncio"},
    }
