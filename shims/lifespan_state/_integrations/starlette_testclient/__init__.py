"""Starlette's ``TestClient`` (a test harness): the descriptor (hook code: ``_hooks.py``).

The trigger is ``starlette.testclient``: an app that only imports Starlette loads nothing of ours.
"""

from __future__ import annotations

from .._descriptor import HarnessKit, Integration
from .._tools import Field, FieldArm, Patches, PatchSeries, UpstreamTests

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
    harness=HarnessKit(
        key="testclient",
        # One client for every run: the leak between a client's runs needs that (docs/field.md).
        label="TestClient",
        # Starlette 1.10 prefers httpx2 (pydantic's fork) and warns when it finds only httpx.
        clients=("httpx2", "httpx"),
    ),
    field_page=Field(label="{name} {release} TestClient", arms=(
        FieldArm("starlette+httpx2", "starlette+httpx2 {release} TestClient", ("--harness", "testclient"),
                 client="httpx2==2.17.0", note="httpx2 (the newest, December 2026) and no httpx."),
    )),
    patches=Patches(
        series=(
            # The kit checks S9 (a second run starts empty); the request after the run (S13) is
            # the series' upstream test, which the prover runs on the pristine release too.
            PatchSeries("1.10.0", "3.11", ("S9",), extra=("httpx==0.28.1",),
                        summary="the TestClient's lifespan state is emptied when each `with` block's run "
                                "ends: the next block starts empty and a request after the block gets "
                                "none of the ended run's objects",
                        default=True,
                        # the release's dev dependency group, at its uv.lock's versions
                        tests=UpstreamTests("3.11", (
                            "httpx2[zstd]==2.13.1", "pytest==9.1.1", "trio==0.34.0", "anyio==4.15.1",
                            "blockbuster==1.5.28", "importlib-metadata==9.0.1",
                            "opentelemetry-sdk==1.44.0"),
                            # a directory without permissions is readable by root (the prover's
                            # user here): fails unpatched as well
                            ("tests/test_staticfiles.py::test_staticfiles_with_invalid_dir_permissions_returns_401",))),
        ),
        # the release notes (starlette.dev/release-notes/)
        changelog="docs/release-notes.md",
        test_extras="[full]",
    ),
    rank=70,
    package=__name__,
)
