"""async-asgi-testclient's ``TestClient`` (a test harness): the descriptor (hook code: ``_hooks.py``)."""

from __future__ import annotations

from .._descriptor import Integration, Probes
from .._tools import Field

INTEGRATION = Integration(
    name="async-asgi-testclient",
    kind="harness",
    title="async-asgi-testclient `TestClient`",
    imports=("async_asgi_testclient",),
    ranges=(("1.0.0", "add", "the TestClient's lifespan scope has no state"),),
    newest_tested="1.4.11",
    notable=("1.4.11",),
    hooks="._hooks:SHIM",
    probes=Probes(has_state="._hooks:has_state"),
    # A column of docs/field.md once the kit can run it (a ``harness``).
    field_page=Field(),
    rank=80,
    package=__name__,
)
