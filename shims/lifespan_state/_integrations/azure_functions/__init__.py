"""Azure Functions' ASGI adapter (``azure.functions.AsgiFunctionApp`` / ``AsgiMiddleware``): run by the
check kit only, as a harness (``--harness azure-functions``), in-process with synthetic
``func.HttpRequest`` invocations. The shim has no module for it (no ranges, no hook code): the page
shows what it does natively.

The descriptor is ``integration.toml``.
"""

from __future__ import annotations

from .._data import descriptor

INTEGRATION = descriptor(__name__)
