"""async-asgi-testclient's ``TestClient`` (a test harness): the descriptor is ``integration.toml``
(hook code: ``_hooks.py``).
"""

from __future__ import annotations

from .._data import descriptor

INTEGRATION = descriptor(__name__)
