"""asgi-lifespan's ``LifespanManager`` (a test harness): the descriptor (hook code: ``_hooks.py``)."""

from __future__ import annotations

from .._descriptor import HarnessKit, Integration
from .._tools import Field, Patches, PatchSeries, UpstreamTests

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
        label="LifespanManager + httpx.ASGITransport",
        no_websocket="httpx has no WebSocket client",
    ),
    field_page=Field(),
    patches=Patches(
        series=(
            # S13 (requests to manager.app after the block) is the series' upstream test.
            PatchSeries("2.1.0", "3.11", ("S3", "S4", "S5", "S8", "S10", "S11"),
                        extra=("starlette==1.10.0", "httpx==0.28.1", "anyio"),
                        summary="a shallow copy of the state per request instead of the manager's dict "
                                "itself; the state is emptied when the lifespan run ends",
                        default=True,
                        # the release's requirements.txt ("Tooling and tests")
                        tests=UpstreamTests("3.11", (
                            "attrs>=19.2", "pytest==7.*", "pytest-asyncio==0.18.*", "pytest-cov==4.*",
                            "pytest-trio==0.8.*", "starlette==0.26.*", "trio==0.22.*", "httpx==0.23.*"))),
        ),
    ),
    rank=60,
    package=__name__,
)
