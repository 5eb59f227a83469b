"""anycorn (hypercorn 0.16's code on AnyIO): the descriptor is ``integration.toml`` (hook code:
``_hooks.py``).
"""

from __future__ import annotations

from .._data import descriptor

INTEGRATION = descriptor(__name__)
