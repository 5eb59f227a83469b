"""granian (``--interface asgi``): the descriptor (hook code: ``_hooks.py``, loaded with
``granian.asgi``; RSGI and WSGI never reach it)."""

from __future__ import annotations

from .._descriptor import CopyProbe, Integration, Launch, Probes
from .._tools import Bench, BenchRow, Field, Patches, PatchSeries, UpstreamTests

INTEGRATION = Integration(
    name="granian",
    kind="server",
    imports=("granian.asgi",),
    ranges=(("1.0.0", "fix", "LifespanProtocol.shutdown() empties the state before lifespan.shutdown"),),
    newest_tested="2.8.9",
    notable=("1.0.2", "1.7.6", "2.8.9"),
    hooks="._hooks:SHIM",
    probes=Probes(
        has_state="._hooks:has_state",
        copies=CopyProbe(
            "._hooks:keeps_state",
            native="{version} keeps the state until lifespan.shutdown is handled",
            fix="{version} empties the state before lifespan.shutdown",
        ),
        without_state="unsupported",
    ),
    commands=("granian",),
    launch=Launch(
        command="{python} -m granian --interface asgi --host {host} --port {port} {app}",
        # HTTP/2 by prior knowledge on the plain port, by ALPN with TLS.
        transports=frozenset({"h1", "ws", "h2c"}),
        tls="--ssl-certificate {certfile} --ssl-keyfile {keyfile}",
        tls_transports=frozenset({"h1", "ws", "h2-tls"}),
    ),
    field_page=Field(),
    patches=Patches(
        series=(
            PatchSeries("2.8.9", "3.11", ("S10",),
                        summary="the lifespan state is cleared after lifespan.shutdown is handled, not "
                                "before (shutdown handlers see what startup stored)",
                        tag="v2.8.9",
                        # the release's [dependency-groups] test group
                        tests=UpstreamTests("3.11", ("httpx~=0.28", "pytest~=9.0", "pytest-asyncio~=1.3",
                                                     "sniffio~=1.3", "websockets~=16.0"))),
        ),
        # No changelog file: the release notes are GitHub's.
        changelog="",
        # Rust: its sdist cannot be built here (the crates are not reachable offline), and the
        # series changes Python files only.
        compiled="_granian",
    ),
    bench=Bench(
        command="{python} -m granian --interface asgi --host {host} --port {port} --workers 1 --loop uvloop "
                "--log-level warning benchapp:app",
        extras=("uvloop",),
        # Its requests are right natively; the shim wraps only its lifespan shutdown, so both arms
        # serve requests through granian's own per-request copy: the row must show no cost.
        rows=(BenchRow("newest", "h1", 4, "fix", quick=True, per_request=False),),
        control=("newest", "h1"),
        note="granian's requests are right natively (a copy per request); its shim wraps only the lifespan "
             "shutdown, so both of its arms serve requests the same way and *expected* does not apply.",
        note_order=3,
    ),
    rank=40,
    package=__name__,
)
