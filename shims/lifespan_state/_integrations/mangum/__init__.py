"""mangum (ASGI on AWS Lambda): run by the check kit only, as a harness (``--harness mangum``).

A Lambda execution environment invokes the handler once per event, one event at a time; mangum's
``lifespan="auto"`` runs a whole lifespan (startup, the request, shutdown) inside every invocation,
and each request gets a copy of that invocation's state. The shim has no module for it (no
ranges, no hook code): the page shows what it does natively.
"""

from __future__ import annotations

from .._descriptor import HarnessKit, Integration
from .._tools import Field

INTEGRATION = Integration(
    name="mangum",
    kind="harness",
    title="mangum (AWS Lambda)",
    imports=("mangum",),
    harness=HarnessKit(
        label="Mangum handler, API Gateway REST events",
        no_websocket="API Gateway's HTTP events carry no WebSocket",
    ),
    # The newest release, December 2026 (no runtime table row to take it from).
    field_page=Field(
        release="0.22.0",
        note="One run is one `Mangum(app)` handler invoked with synthetic API Gateway REST events, "
             "one at a time as a Lambda execution environment invokes it. Its `lifespan=\"auto\"` "
             "(the default) runs a whole lifespan inside every invocation: each request is the only "
             "request of its own lifespan run, so nothing the lifespan keeps reaches a later request "
             "(S3, S4 and S7 have no later request of the same run to compare: n/a), while a new run "
             "starting empty (S9) "
             "and each shutdown (S10) hold. The run without lifespan is `lifespan=\"off\"`: no "
             "`state` in the scope at all (S8).",
    ),
    rank=92,
    package=__name__,
)
