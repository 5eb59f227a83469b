"""mangum (ASGI on AWS Lambda): run by the check kit only, as a harness (``--harness mangum``).

A Lambda execution environment invokes the handler once per event, one event at a time; mangum's
``lifespan="auto"`` runs a whole lifespan (startup, the request, shutdown) inside every invocation,
and each request gets a copy of that invocation's state. The shim has no module for it (no
ranges, no hook code): the page shows what it does natively.

The descriptor is ``integration.toml``.
"""

from __future__ import annotations

from .._data import descriptor

INTEGRATION = descriptor(__name__)
