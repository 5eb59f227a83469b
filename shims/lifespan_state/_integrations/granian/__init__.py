"""granian (``--interface asgi``): the descriptor (hook code: ``_hooks.py``, loaded with
``granian.asgi``; RSGI and WSGI never reach it)."""

from __future__ import annotations

from .._descriptor import CopyProbe, Integration, Launch, Probes
from .._matrix import Config, Limit, Matrix, Picks
from .._tools import Bench, BenchRow, Field, Patches, PatchSeries, UpstreamTests

INTEGRATION = Integration(
    name="granian",
    kind="server",
    imports=("granian.asgi",),
    ranges=(("1.0.0", "fix", "LifespanProtocol.shutdown() empties the state before lifespan.shutdown"),),
    newest_tested="2.8.9",
    notable=("1.0.2", "1.7.6", "2.8.9"),
    probes=Probes(
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
                                                     "sniffio~=1.3", "websockets~=16.0"),
                                            # the release's test certificate (tests/fixtures/tls/
                                            # cert.pem) expired on 2026-12-02: the WebSocket
                                            # clients refuse it, unpatched as well
                                            ("tests/test_https.py::test_asgi_ws_scope",
                                             "tests/test_https.py::test_rsgi_ws_scope"))),
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
    matrix=Matrix(
        default=Config("h1+h2c", "ws", "asgi"),  # --interface asgi
        # Every release since 1.0 shares the one bug (fix mode): the oldest one, and the newest
        # patch of every minor, cover the code shapes.
        picks=Picks(oldest=True),
        eras=(("2.0", ("3.10", "3.11", "3.12")),),
        python_sweep=("1.0.2", "2.8.9"),
        config_sweep=(("2.8.9", "3.12"),),
        wrapt_sweep=(("2.8.9", "3.11", "1.x"),),
        # The newest release: the one the shim's S10 fix matters most for (the older ones' cells
        # run on uvloop, see the limit below).
        ci_representative="2.8.9",
        by_recipe=True,
        # 2.0 - 2.7 run on uvloop here (the limit below); 1.x depends on it anyway.
        release_extras=((">=2.0,<2.8", "uvloop"),),
        limits_rank=3,  # third in compat_matrix.md's list of limits
    ),
    # 2.0 - 2.7 on asyncio's event loop (their default: uvloop became the optional
    # ``granian[uvloop]`` extra in 2.0) hang at about every other worker stop, before the worker
    # runs lifespan.shutdown, with or without the shim (granian issue #875; measured natively on
    # 2.0.1, 2.2.6, 2.4.2, 2.6.1 and 2.7.9, and on 1.7.6 with ``--loop asyncio``). When the
    # worker's accept loop ends, a runtime thread calls ``loop.call_soon_threadsafe``, whose
    # self-pipe write lets go of the GIL; if the main thread takes it then, it returns from
    # ``run_until_complete`` and drops the tokio runtime while holding the GIL, waiting for the
    # very thread that waits for the GIL. A longer stop timeout cannot help: the kit's SIGKILL
    # ends a deadlock, not a slow stop. uvloop wakes its loop without letting go of the GIL, and
    # 2.8.0 reworked the worker's main loop: neither hung here (2.4.2 on uvloop, 2.8.9, 1.x).
    limits=(
        Limit(">=1.0,<2.8",
              "granian < 2.8 on the asyncio event loop (2.x's default without the uvloop extra): a worker "
              "deadlocks at about every other stop before lifespan.shutdown, natively as with the shim "
              "(granian #875), so S10 cannot be observed reliably; its cells run on uvloop "
              "(`granian[uvloop]`, which `--loop auto` picks; 1.x depends on it)",
              worker=("asyncio",)),
    ),
    package=__name__,
)
