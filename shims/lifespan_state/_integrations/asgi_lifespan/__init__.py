"""asgi-lifespan's ``LifespanManager`` (a test harness): the descriptor (hook code: ``_hooks.py``)."""

from __future__ import annotations

from .._descriptor import HarnessKit, Integration
from .._tools import Field

INTEGRATION = Integration(
    name="asgi-lifespan",
    kind="harness",
    title="asgi-lifespan `LifespanManager`",
    imports=("asgi_lifespan",),
    ranges=(
        ("1.0.0", "add", "LifespanManager has no lifespan state before 2.1.0"),
        ("2.1.0", "fix", "2.1.0 hands every request the manager's dict itself"),
    ),
    newest_tested="2.1.0",
    notable=("2.0.0", "2.1.0"),
    harness=HarnessKit(
        key="asgi-lifespan",
        label="LifespanManager + httpx.ASGITransport",
        make="._kit:make",
        open="._kit:open",
        no_websocket="httpx has no WebSocket client",
    ),
    field_page=Field(),
    rank=60,
    package=__name__,
)
