"""Litestar's ``TestClient`` / ``AsyncTestClient`` driving a non-Litestar app (a test harness): the
descriptor is ``integration.toml`` (hook code: ``_hooks.py``). Litestar apps keep their own
state and are left alone; the trigger is ``litestar.testing``.
"""

from __future__ import annotations

from .._data import descriptor

INTEGRATION = descriptor(__name__)
