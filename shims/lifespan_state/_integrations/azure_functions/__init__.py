"""Azure Functions' ASGI adapter (``azure.functions.AsgiFunctionApp`` / ``AsgiMiddleware``): run by the
check kit only, as a harness (``--harness azure-functions``), in-process with synthetic
``func.HttpRequest`` invocations. The shim has no module for it (no ranges, no hook code): the page
shows what it does natively.
"""

from __future__ import annotations

from .._descriptor import HarnessKit, Integration
from .._tools import Field

INTEGRATION = Integration(
    name="azure-functions",
    kind="harness",
    title="azure-functions `AsgiFunctionApp`",
    imports=("azure.functions",),
    harness=HarnessKit(
        label="AsgiFunctionApp, in-process invocations",
        no_websocket="the Functions HTTP trigger carries no WebSocket",
    ),
    # The newest release installable on Python 3.11 (2.x needs 3.13), December 2026.
    field_page=Field(
        release="1.26.0",
        note="One run is one `AsgiFunctionApp(app)` whose HTTP function is awaited with synthetic "
             "`func.HttpRequest`s on one event loop, as the Functions worker awaits it; its lifespan "
             "starts at the first invocation, and the run ends as the app object is released (its "
             "`__del__` is where it sends `lifespan.shutdown`, on a new event loop: with 1.26.0 that "
             "call never returns and the shutdown never reaches the app, S10; the kit stops waiting "
             "after 5 s). The run without "
             "lifespan is `AsgiMiddleware(app).handle_async`, the adapter's other documented use, "
             "which runs none.",
    ),
    rank=94,
    package=__name__,
)
