"""gunicorn's native ASGI worker (``-k asgi``): the descriptor is ``integration.toml`` (hook code:
``_hooks.py``).

Only the ASGI worker: ``UvicornWorker`` runs uvicorn (the uvicorn integration's business), and the
WSGI workers have no ASGI scopes, so the trigger is ``gunicorn.workers.gasgi``.
"""

from __future__ import annotations

from .._data import descriptor

INTEGRATION = descriptor(__name__)
