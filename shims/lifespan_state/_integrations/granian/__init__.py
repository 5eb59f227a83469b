"""granian (``--interface asgi``): the descriptor is ``integration.toml`` (hook code:
``_hooks.py``, loaded with ``granian.asgi``; RSGI and WSGI never reach it).
"""

from __future__ import annotations

from .._data import descriptor

INTEGRATION = descriptor(__name__)
