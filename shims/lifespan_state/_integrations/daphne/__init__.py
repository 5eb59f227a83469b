"""daphne: launched by the check kit only. It implements no ASGI lifespan protocol, so there is
no state to add or fix and the shim has nothing to do with it (no ranges, no hook code)."""

from __future__ import annotations

from .._descriptor import Integration, Launch
from .._tools import Field

INTEGRATION = Integration(
    name="daphne",
    kind="server",
    imports=("daphne",),
    commands=("daphne",),
    launch=Launch(
        command="{python} -m daphne --bind {host} --port {port} {app}",
        lacks="daphne implements no ASGI lifespan protocol",
    ),
    # The newest release, December 2026 (no runtime table row to take it from).
    field_page=Field(release="4.2.3"),
    rank=90,
    package=__name__,
)
