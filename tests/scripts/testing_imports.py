"""What the testing helpers import, in a fresh interpreter: python testing_imports.py MODE

* ``plugin``: the pytest plugin is registered once and loads without importing httpx, anyio,
  Starlette or ``lifespan_state.testing``, and without activating anything (exits 1 otherwise);
* ``module``: ``import lifespan_state.testing`` loads no wrapt (the shims' patching), so a test
  suite pays for the helpers alone (exits 1 otherwise);
* ``no-httpx``: ``lifespan_client`` without httpx installed prints the ImportError's message.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Any


def plugin() -> None:
    eps = [e for e in entry_points(group="pytest11") if e.value == "lifespan_state.pytest_plugin"]
    if len(eps) != 1:
        raise SystemExit(f"entry points: {eps}")
    eps[0].load()
    unwanted = ("httpx", "anyio", "lifespan_state.testing", "starlette")
    loaded = [m for m in unwanted if m in sys.modules]
    if loaded:
        raise SystemExit(f"loaded at plugin load: {loaded}")
    import lifespan_state

    if any(info.requested for info in lifespan_state.status().values()):
        raise SystemExit("the plugin activated the shim")


def module() -> None:
    import lifespan_state.testing  # noqa: F401

    loaded = [m for m in ("wrapt", "lifespan_state._patching") if m in sys.modules]
    if loaded:
        raise SystemExit(f"loaded with lifespan_state.testing: {loaded}")


def no_httpx() -> None:
    import anyio

    sys.modules["httpx"] = None  # type: ignore[assignment] # as if not installed
    from lifespan_state.testing import lifespan_client

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    async def main() -> None:
        async with lifespan_client(app):
            pass

    try:
        anyio.run(main)
    except ImportError as exc:
        print(exc)


if __name__ == "__main__":
    {"plugin": plugin, "module": module, "no-httpx": no_httpx}[sys.argv[1]]()
