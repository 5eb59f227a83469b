"""``import lifespan_state.auto`` activates the shim for every supported server.

Automatic activation never raises: an unsupported release is logged once and left untouched.
"""

from __future__ import annotations

from ._registry import activate

__all__: list = []  # type: ignore[type-arg]

activate(strict=False)
