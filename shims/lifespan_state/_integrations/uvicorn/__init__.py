"""uvicorn: the descriptor (the hook code is ``_hooks.py``, loaded when uvicorn is imported)."""

from __future__ import annotations

from .._descriptor import Integration, Launch, Probes
from .._tools import (
    BACKPORT,
    Bench,
    BenchArm,
    BenchComparison,
    BenchRow,
    Field,
    Patches,
    PatchSeries,
    Soak,
    Startup,
    UpstreamTests,
)

# The upstream suites' requirements, at the versions of each release's time.
_TESTS_0_1X = ("websockets==10.1", "wsproto==1.0.0", "h11==0.12.0", "pytest==6.2.5",
               "pytest-asyncio==0.15.1", "pytest-mock==3.6.1", "httpx==0.22.0", "trustme==0.9.0",
               "cryptography==3.4.8", "watchgod", "python-dotenv", "pyyaml", "asgiref==3.5.0",
               "uvloop==0.16.0")
_TESTS_0_2X = ("asgiref==3.5.2", "wsproto==1.2.0", "pytest-mock==3.10.0", "trustme==0.9.0",
               "httpx==0.23.0", "watchgod==0.8.2", "websockets==10.4", "httptools==0.5.0",
               "uvloop==0.17.0", "anyio<4", "a2wsgi", "python-dotenv", "pyyaml")

INTEGRATION = Integration(
    name="uvicorn",
    kind="server",
    imports=("uvicorn",),
    ranges=(
        ("0.11.0", "add", "no lifespan state before 0.21.0"),
        ("0.21.0", "fix", "0.21.0 shares one copy of the state"),
        ("0.21.1", "native", "per-request copies since 0.21.1"),
    ),
    newest_tested="0.54.0",
    notable=("0.11.8", "0.15.0", "0.17.6", "0.20.0", "0.21.0", "0.21.1"),
    hooks="._hooks:SHIM",
    probes=Probes(has_state="._hooks:has_state"),
    commands=("uvicorn",),
    launch=Launch(
        command="{python} -m uvicorn {app} --host {host} --port {port}",
        tls="--ssl-certfile {certfile} --ssl-keyfile {keyfile}",
        tls_transports=frozenset({"h1", "ws"}),
        options={
            "http": {v: f"--http {v}" for v in ("h11", "httptools")},
            "ws": {v: f"--ws {v}" for v in ("websockets", "websockets-sansio", "wsproto", "none")},
            "lifespan": {v: f"--lifespan {v}" for v in ("on", "auto", "off")},
            "worker": {v: f"--loop {v}" for v in ("asyncio", "uvloop")},
        },
        capabilities="._kit:capabilities",
        lifespan_off={"lifespan": "off"},
        # "on" exits when the lifespan raises; "auto" carries on without it, which S8 needs.
        lifespan_raise={"lifespan": "auto"},
        driver="._kit:drive",
    ),
    field_page=Field(),
    patches=Patches(series=(
        PatchSeries("0.15.0", "3.10", ("S1",), configs=(("--http", "h11", "--ws", "websockets"),),
                    extra=("websockets",), summary=BACKPORT + " (Ubuntu 22.04)",
                    tests=UpstreamTests("3.10", (*_TESTS_0_1X, "httptools==0.2.0"))),
        # Debian 12's release, on its Python.
        PatchSeries("0.17.6", "3.11", ("S1",),
                    configs=(("--http", "h11", "--ws", "wsproto"),
                             ("--http", "httptools", "--ws", "websockets")),
                    extra=("wsproto", "websockets", "httptools"), summary=BACKPORT + " (Debian 12)",
                    default=True, tests=UpstreamTests("3.10", (*_TESTS_0_1X, "httptools==0.4.0"))),
        PatchSeries("0.20.0", "3.11", ("S1",), configs=(("--http", "httptools", "--ws", "websockets"),),
                    extra=("httptools", "websockets"), summary=BACKPORT,
                    tests=UpstreamTests("3.11", (*_TESTS_0_2X, "pytest==7.1.3", "cryptography==38.0.3"))),
        PatchSeries("0.21.0", "3.11", ("S5",), configs=(("--http", "h11", "--ws", "websockets"),),
                    extra=("websockets",),
                    summary="per-request copy instead of one copy per connection (keep-alive, WebSocket)",
                    tests=UpstreamTests(
                        "3.11", (*_TESTS_0_2X, "pytest==7.2.1", "cryptography==39.0.1"),
                        # timing-dependent on this machine: fails unpatched as well
                        ("tests/protocols/test_websocket.py::test_connection_lost_before_handshake_complete",),
                    )),
    )),
    bench=Bench(
        command="{python} -m uvicorn benchapp:app --host {host} --port {port} --http {protocol} "
                "--lifespan on --no-access-log --log-level warning",
        extras=("httptools", "uvloop"),
        rows=(
            BenchRow("last_stateless", "h11", 4, "add", quick=True),
            BenchRow("last_stateless", "h11", 100, "add"),
            BenchRow("last_stateless", "httptools", 4, "add", quick=True),
            BenchRow("last_stateless", "httptools", 100, "add", quick=True),
            BenchRow("buggy", "httptools", 4, "fix", quick=True),
            BenchRow("buggy", "httptools", 100, "fix"),
            BenchRow("reference", "httptools", 4, "native"),
        ),
        # What the feature costs where the server itself does it (0.21.1 copies per request), and
        # the shim's copy against that native one: different releases, so other code differs too.
        comparisons=(
            *(BenchComparison("native-cost", "httptools", n, BenchArm("last_stateless", False),
                              BenchArm("reference", False), "native") for n in (4, 100)),
            *(BenchComparison("cross", "httptools", n, BenchArm("reference", False),
                              BenchArm("last_stateless", True), "add") for n in (4, 100)),
        ),
        control=("last_stateless", "httptools"),
        startup=Startup(
            "uvicorn.main, uvicorn.lifespan.on",
            "import uvicorn.main\nfrom uvicorn.config import Config\n"
            "Config('benchapp:app', http='h11', lifespan='on').load()\nimport benchapp",
            debian_wrapt=("httptools",),
        ),
        memory="httptools",
        yardstick=True,
        # The per-scope section's native statement is 0.21.1's scope literal with
        # "state": self.app_state.copy().
        native_copy="reference",
    ),
    soak=Soak(serve="._soak:serve"),
    rank=10,
    package=__name__,
)
