"""Starlette's ``TestClient`` (a test harness): the descriptor is ``integration.toml`` (hook code:
``_hooks.py``).

The trigger is ``starlette.testclient``: an app that only imports Starlette loads nothing of ours.
"""

from __future__ import annotations

from .._data import descriptor

INTEGRATION = descriptor(__name__)
