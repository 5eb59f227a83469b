"""anycorn (hypercorn 0.16's code on AnyIO): the descriptor (hook code: ``_hooks.py``)."""

from __future__ import annotations

from .._descriptor import CopyProbe, Integration, Launch, Probes
from .._matrix import Config, Matrix, Picks, Pin
from .._tools import Bench, BenchRow, Field, Patches, PatchSeries, UpstreamTests

INTEGRATION = Integration(
    name="anycorn",
    kind="server",
    imports=("anycorn",),
    ranges=(
        ("0.17.0", "add", "no lifespan state before 0.17.3"),
        ("0.17.3", "fix", "0.17.3 - 0.18.x copy the state once per connection"),
        ("0.19.0", "fix", "0.19+ copy a startup snapshot (0.19.x also deep-copy it in ProxyFixMiddleware)"),
    ),
    newest_tested="0.20.1",
    notable=("0.17.2", "0.18.7", "0.19.3", "0.20.1"),
    probes=Probes(
        copies=CopyProbe(
            "._hooks:copies_live_state_per_request",
            native="{version} copies the live state per request",
            fix="{version} copies a startup snapshot or one copy per connection",
        ),
    ),
    later={"anycorn.middleware.proxy_fix": "ProxyFixMiddleware.__call__"},
    commands=("anycorn",),
    launch=Launch(
        command="{python} -m anycorn --bind {host}:{port} {app}",
        # HTTP/2 by prior knowledge on the plain port, by ALPN with TLS.
        transports=frozenset({"h1", "ws", "h2c"}),
        tls="--certfile {certfile} --keyfile {keyfile}",
        tls_transports=frozenset({"h1", "ws", "h2-tls"}),
    ),
    # On a loaded machine 0.20.1 over TLS can die at SIGINT before lifespan.shutdown (its
    # idle-timeout task closes an already-closed TLS stream: anyio.ClosedResourceError), natively
    # and with the shim, which fails S10: the field page's check runs a disagreeing column twice.
    field_page=Field(),
    patches=Patches(
        series=(
            PatchSeries("0.20.1", "3.11", ("S7",),
                        summary="requests copy the live lifespan state (not a snapshot taken at startup)",
                        # The sdist ships no tests: the prover runs the series' own test file (a new
                        # one, needing nothing else of the suite) on it.
                        tests=UpstreamTests("3.11", ("pytest==9.1.1", "trio==0.34.0"))),
        ),
    ),
    bench=Bench(
        command="{python} -m anycorn --bind {host}:{port} -k asyncio benchapp:app",
        # It runs on asyncio or trio only: no fast extras.
        extras=(),
        # 0.18.7 is the last release with one copy per connection.
        rows=(BenchRow("0.18.7", "h1", 4, "fix", quick=True), BenchRow("0.18.7", "h1", 100, "fix")),
        control=("0.18.7", "h1"),
        note="anycorn 0.18.7 copies once per connection (the shim copies per request).",
        note_order=2,
    ),
    rank=50,
    matrix=Matrix(
        default=Config("h1+h2c", "ws", "asyncio"),
        # Three code shapes in 19 releases: the first and the last of each minor, and both sides
        # of each mode boundary (0.17.2 the last without state, 0.17.3 the first with it).
        picks=Picks(oldest_per_minor=True, mode_bounds=True),
        eras=(("0.19", ("3.10", "3.11", "3.12")),),
        python_sweep=("0.18.7", "0.20.1"),  # last per-connection copy, newest
        config_sweep=(("0.18.7", "3.11"), ("0.20.1", "3.12")),
        wrapt_sweep=(("0.18.7", "3.11", "1.x"),),
        ci_representative="0.18.7",
        by_recipe=True,
    ),
    pins=(Pin("==0.18.7", "sniffio", "0.18.7 imports sniffio, its wheel does not declare it"),),
    package=__name__,
)
