"""daphne: launched by the check kit only. It implements no ASGI lifespan protocol, so there is
no state to add or fix and the shim has nothing to do with it (no ranges, no hook code).

The descriptor is ``integration.toml``.
"""

from __future__ import annotations

from .._data import descriptor

INTEGRATION = descriptor(__name__)
