"""Starlette's ``TestClient`` (a test harness): the descriptor (hook code: ``_hooks.py``).

The trigger is ``starlette.testclient``: an app that only imports Starlette loads nothing of ours.
"""

from __future__ import annotations

from .._descriptor import HarnessKit, Integration, Probes
from .._tools import Field, FieldArm

INTEGRATION = Integration(
    name="starlette",
    kind="harness",
    title="starlette `TestClient`",
    imports=("starlette.testclient",),
    ranges=(
        ("0.26.0", "fix", "TestClient keeps one state dict per client: a second `with` block starts "
         "with the first run's keys"),
    ),
    newest_tested="1.10.0",
    notable=("0.26.0", "1.10.0"),
    hooks="._hooks:SHIM",
    probes=Probes(has_state="._hooks:has_state"),
    harness=HarnessKit(
        key="testclient",
        # One client for every run: the leak between a client's runs needs that (docs/field.md).
        label="TestClient",
        make="._kit:make",
        open="._kit:open",
        # Starlette 1.10 prefers httpx2 (pydantic's fork) and warns when it finds only httpx.
        clients=("httpx2", "httpx"),
    ),
    field_page=Field(label="{name} {release} TestClient", arms=(
        FieldArm("starlette+httpx2", "starlette+httpx2 {release} TestClient", ("--harness", "testclient"),
                 client="httpx2==2.17.0", note="httpx2 (the newest, December 2026) and no httpx."),
    )),
    rank=70,
    package=__name__,
)
