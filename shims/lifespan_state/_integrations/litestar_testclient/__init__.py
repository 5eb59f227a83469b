"""Litestar's ``TestClient`` / ``AsyncTestClient`` driving a non-Litestar app (a test harness):
the descriptor (hook code: ``_hooks.py``). Litestar apps keep their own state and are left alone;
the trigger is ``litestar.testing``."""

from __future__ import annotations

from .._descriptor import HarnessKit, Integration
from .._tools import Field

INTEGRATION = Integration(
    name="litestar",
    kind="harness",
    title="litestar `TestClient` / `AsyncTestClient`",
    imports=("litestar.testing",),
    ranges=(
        ("2.0.0", "add", "the TestClient puts no state into a non-Litestar app's scopes before 2.4.0"),
        ("2.4.0", "fix", "the TestClient gives every scope of a non-Litestar app, the lifespan's "
         "included, a fresh {}"),
    ),
    newest_tested="2.25.0",
    notable=("2.25.0",),
    # One client for every run, as a test module sharing one client has it. Litestar's clients
    # are httpx's.
    harness=HarnessKit(label="Litestar TestClient", clients=("httpx",)),
    more_harnesses=(
        HarnessKit(label="Litestar AsyncTestClient", key="litestar-async", make="._kit:make_async",
                   open="._kit:open_async", clients=("httpx",)),
    ),
    field_page=Field(),
    rank=85,
    package=__name__,
)
