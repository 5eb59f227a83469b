"""ASGI lifespan state (``scope["state"]``) for the servers and test harnesses of ``_versions.SUPPORTED``.

Activate it once, before or after the server is imported::

    import lifespan_state.auto          # or: lifespan_state.activate()

On releases without lifespan state the shim adds it, on releases that share one copy between
requests it gives each request its own, and on releases that do it right it does nothing.
Importing this package never imports a server (nor wrapt: that waits for a server's import).

``LIFESPAN_STATE_DISABLE=1`` (or ``true``, ``yes``, ``on``) in the environment switches every
activation path off; ``activate()`` and ``status()`` say so. Other values are ignored, with a
warning.

``status()`` is keyed by distribution name (``status()["uvicorn"]``); each
:class:`ServerStatus` says what is wrapped now (``patched``) and what will be wrapped on which
import (``pending``).
"""

from __future__ import annotations

from ._errors import (
    ActivationTooLateWarning,
    LifespanStateError,
    ServerNotInstalledError,
    ShimError,
    UnsupportedServerError,
)
from ._registry import DISABLE_ENV, DISABLE_VALUES, ServerStatus, activate, deactivate, status
from ._versions import SUPPORTED

__all__ = [
    "DISABLE_ENV",
    "DISABLE_VALUES",
    "SUPPORTED",
    "ActivationTooLateWarning",
    "LifespanStateError",
    "ServerNotInstalledError",
    "ServerStatus",
    "ShimError",
    "UnsupportedServerError",
    "__version__",
    "activate",
    "deactivate",
    "status",
]

__version__ = "0.1.0"
