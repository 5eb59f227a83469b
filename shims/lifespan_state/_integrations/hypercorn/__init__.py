"""hypercorn: the descriptor is ``integration.toml`` (the hook code is ``_hooks.py``, loaded when
hypercorn is imported).
"""

from __future__ import annotations

from .._data import descriptor

INTEGRATION = descriptor(__name__)
