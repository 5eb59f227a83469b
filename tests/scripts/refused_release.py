"""A hypercorn release older than the table's first: activation refuses it and wraps nothing.

Usage: python refused_release.py  (in an environment with such a hypercorn, e.g. 0.10.2)
Prints ``refused: <the error>`` and ``untouched: True`` when worker_serve is the original.
"""

from __future__ import annotations

import hypercorn.asyncio

import lifespan_state

original = hypercorn.asyncio.worker_serve
try:
    lifespan_state.activate("hypercorn")
except lifespan_state.UnsupportedServerError as exc:
    print("refused:", exc)

from lifespan_state._integrations.hypercorn._hooks import SHIM as shim  # noqa: E402 - after the attempt

print("untouched:", hypercorn.asyncio.worker_serve is original and not shim.is_patched())
