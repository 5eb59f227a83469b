"""async-asgi-testclient's ``TestClient`` (a test harness): the descriptor (hook code: ``_hooks.py``)."""

from __future__ import annotations

from .._descriptor import HarnessKit, Integration
from .._tools import Field

INTEGRATION = Integration(
    name="async-asgi-testclient",
    kind="harness",
    title="async-asgi-testclient `TestClient`",
    imports=("async_asgi_testclient",),
    ranges=(("1.0.0", "add", "the TestClient's lifespan scope has no state"),),
    newest_tested="1.4.11",
    notable=("1.4.11",),
    harness=HarnessKit(
        # A new client per run: one client's second `async with` is beyond the harness (_kit.py).
        label="async-asgi-testclient TestClient",
        clients=(),
    ),
    field_page=Field(),
    rank=80,
    package=__name__,
)
