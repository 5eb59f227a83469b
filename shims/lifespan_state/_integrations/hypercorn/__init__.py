"""hypercorn: the descriptor (the hook code is ``_hooks.py``, loaded when hypercorn is imported)."""

from __future__ import annotations

from .._descriptor import Integration, Launch
from .._matrix import DEBIAN, Config, Limit, Matrix, NamedReleases, Picks, Pin
from .._tools import (
    BACKPORT,
    AppVariants,
    Bench,
    BenchRow,
    Field,
    FieldArm,
    Patches,
    PatchSeries,
    Soak,
    Startup,
    UpstreamTests,
)

# The newest tested release and the named ones, written once: the matrix facts below use them.
_NEWEST = "0.18.0"
_RELEASES = NamedReleases(
    debian="0.13.2",
    last_stateless="0.16.0",
    buggy="0.17.3",  # 0.17.x: one copy per TCP connection / UDP socket
    reference="0.18.0",  # per-request copies on asyncio (trio / HTTP/3: a startup snapshot)
    soaked="0.16.0",  # the last without state
)

#: The patch proofs check its asyncio and its trio worker (two code paths from worker_serve down).
_WORKERS = (("--worker", "asyncio"), ("--worker", "trio"))
#: < 0.14's trio worker often dies on SIGINT before lifespan.shutdown, natively as with the shim or
#: a patch (the matrix's known limit): S10 cannot be observed there, so that worker is checked
#: without S10 and the asyncio worker proves S10.
_WORKERS_BEFORE_0_14 = (
    ("--worker", "asyncio"),
    ("--worker", "trio", "--checks", "S1,S2,S3,S4,S5,S6,S7,S8,S9,S11,S12"),
)
#: The upstream suites' requirements common to 0.14 and later.
_TESTS = ("pytest-trio==0.8.0", "pytest-cov", "hypothesis", "mock", "httpx")

INTEGRATION = Integration(
    name="hypercorn",
    kind="server",
    imports=("hypercorn",),
    ranges=(
        ("0.11.0", "add", "no lifespan state before 0.17.0"),
        ("0.17.0", "fix", "0.17.x copies the state once per connection"),
        ("0.18.0", "fix", "0.18.0 copies a startup snapshot on trio and HTTP/3 and deep-copies the state "
         "in ProxyFixMiddleware"),
    ),
    newest_tested=_NEWEST,
    notable=("0.11.2", "0.13.2", "0.14.4", "0.16.0", "0.17.3", "0.18.0"),
    later={
        "hypercorn.asyncio": "worker_serve (every binding), per the asyncio worker's probes",
        "hypercorn.trio": "worker_serve (every binding), per the trio worker's probes",
        "hypercorn.middleware.proxy_fix": "ProxyFixMiddleware.__call__",
        "hypercorn.middleware.dispatcher": "_DispatcherMiddleware.__call__",
    },
    commands=("hypercorn",),
    launch=Launch(
        command="{python} -m hypercorn --bind {host}:{port} {app}",
        transports=frozenset({"h1", "ws", "h2c"}),
        # TLS and QUIC on one port number (TCP and UDP): HTTP/2 by ALPN, RFC 8441, HTTP/3.
        tls="--certfile {certfile} --keyfile {keyfile}",
        tls_transports=frozenset({"h1", "ws", "h2-tls", "ws-h2", "h3"}),
        transport_args={"h3": "--quic-bind {host}:{port}"},
        options={
            # Both protocols are always on; the option names what the configuration serves.
            "http": {"h11+h2": ""},
            "ws": {"wsproto": ""},
            # hypercorn always runs the lifespan and carries on when the app raises on it.
            "lifespan": {"auto": ""},
            "worker": {v: f"--worker-class {v}" for v in ("asyncio", "uvloop", "trio")},
            "workers": {"default": "", **{n: f"--workers {n}" for n in ("0", "1", "2")}},
        },
        capabilities="._kit:capabilities",
        driver="._kit:drive",
    ),
    field_page=Field(arms=(
        # nonecorn installs the import package hypercorn under its own distribution name: the kit
        # runs it by hypercorn's recipe (TLS, and HTTP/3 on its QUIC binding) with nonecorn's
        # version. Its code is hypercorn 0.18.0's with changes in 16 modules (zero-copy sends,
        # trailers, WebSocket pings, its certificate loading for QUIC among them).
        FieldArm("nonecorn", "nonecorn {release}", ("--server", "hypercorn", "--tls"),
                 distribution="nonecorn", release="0.18.0",
                 note="A fork of hypercorn 0.18.0 installing the import package `hypercorn` (its code "
                      "differs in 16 modules: zero-copy sends, trailers, WebSocket pings, its QUIC "
                      "setup), run by hypercorn's recipe; hypercorn's shim module decides by its "
                      "probes. Its HTTP/3 cuts every response off: after the body it sends an empty "
                      "trailers HEADERS frame and then a DATA frame, which HTTP/3 forbids (aioquic's "
                      "client closes the connection on the empty header block, its server side raises "
                      "`FrameUnexpected` on the DATA frame). So S5, S7 and S11 fail over HTTP/3 only, "
                      "natively, with the shim and with the middleware: a fault of its HTTP/3 framing, "
                      "not of its state."),
    )),
    patches=Patches(
        series=(
            # Debian 12's release (on its Python 3.11; its own suite runs on 3.10).
            PatchSeries("0.13.2", "3.11", ("S1",), configs=_WORKERS_BEFORE_0_14, extra=("trio",),
                        summary=BACKPORT + " (Debian 12)", default=True,
                        tests=UpstreamTests("3.10", (
                            "h11==0.13.0", "h2==4.1.0", "wsproto==1.1.0", "trio==0.20.0", "pytest==7.1.2",
                            "pytest-asyncio==0.18.3", "pytest-trio==0.7.0", "pytest-cov", "hypothesis",
                            "mock", "aioquic==0.9.20"))),
            PatchSeries("0.14.4", "3.11", ("S1",), configs=_WORKERS, extra=("trio",), summary=BACKPORT,
                        tests=UpstreamTests("3.11", (*_TESTS, "h2==4.1.0", "trio==0.22.2", "pytest==7.4.4",
                                                     "pytest-asyncio==0.21.1", "aioquic==0.9.21"))),
            PatchSeries("0.16.0", "3.11", ("S1",), configs=_WORKERS, extra=("trio",),
                        summary=BACKPORT + "; ProxyFixMiddleware shallow copy",
                        api_configs=(((("app", "proxy_fix"),), ("S1",)),),
                        tests=UpstreamTests("3.11", (*_TESTS, "h2==4.1.0", "trio==0.22.2", "pytest==7.4.4",
                                                     "pytest-asyncio==0.21.1", "aioquic==0.9.21"))),
            PatchSeries("0.17.3", "3.11", ("S5",), configs=_WORKERS, extra=("trio",),
                        summary="per-request copy instead of one copy per TCP connection / UDP socket; "
                                "ProxyFixMiddleware shallow copy",
                        api_configs=(((("app", "proxy_fix"),), ("S2",)),),
                        tests=UpstreamTests("3.11", (
                            *_TESTS, "h2==4.1.0", "h11==0.14.0", "wsproto==1.2.0", "trio==0.25.1",
                            "pytest==8.2.1", "pytest-asyncio==0.23.7", "aioquic==0.9.25"))),
            PatchSeries("0.18.0", "3.11", ("S7",), configs=(("--worker", "trio"),), extra=("trio",),
                        summary="live state for trio/HTTP/3 (not a startup snapshot); ProxyFixMiddleware "
                                "shallow copy; DispatcherMiddleware: a namespace per mount, failures "
                                "passed on",
                        api_configs=(((("app", "proxy_fix"),), ("S2",)),
                                     ((("app", "dispatcher"), ("worker", "trio")), ("S7",)),
                                     ((("app", "dispatcher"),), ())),
                        tests=UpstreamTests(
                            "3.11", (*_TESTS, "trio", "pytest", "pytest-asyncio"),
                            # the h2 release resolved today rejects the test client's frames:
                            # fails unpatched as well
                            ("tests/asyncio/test_sanity.py::test_http2_websocket",
                             "tests/trio/test_sanity.py::test_http2_websocket"))),
        ),
        test_extras="[trio]",
        # The probe behind its middlewares: tests/scripts/hypercorn_apps.py, by import string with
        # hypercorn's call syntax. Double quotes inside: the command is split like a shell line,
        # the app in single quotes.
        variants=AppVariants(
            command="{python} -m hypercorn --bind {host}:{port} --worker-class {worker} "
                    "'hypercorn_apps:{app}'",
            apps={"proxy_fix": "proxy_fix()", "dispatcher": 'dispatcher("{worker}")'},
            defaults={"worker": "asyncio"},
        ),
    ),
    # Not in the memory section: it serves a few hundred requests/s here with tracemalloc on, so
    # 100,000 requests would take the whole time budget of the run.
    bench=Bench(
        command="{python} -m hypercorn benchapp:app --bind {host}:{port} -k uvloop",
        extras=("uvloop",),
        rows=(
            BenchRow("last_stateless", "h1", 4, "add", quick=True),
            BenchRow("last_stateless", "h1", 100, "add"),
            BenchRow("last_stateless", "h2", 4, "add", quick=True),
            BenchRow("last_stateless", "h2", 100, "add"),
            BenchRow("buggy", "h1", 4, "fix"),
            BenchRow("buggy", "h2", 4, "fix"),
            # 0.18.0 copies the live state per request on asyncio without HTTP/3: the shim (fix
            # mode, worker_serve wrapped) leaves such runs alone (it fixes only trio and HTTP/3
            # runs), so this row must show no cost at all.
            BenchRow("reference", "h1", 4, "fix", per_request=False),
        ),
        control=("last_stateless", "h1"),
        startup=Startup(
            "hypercorn.asyncio.run, hypercorn.config",
            "import hypercorn.__main__, hypercorn.asyncio.run, hypercorn.config\nimport benchapp",
        ),
        # 0.14 and later call the app with five positional arguments.
        five_args=True,
        note="hypercorn 0.18.0 is in fix mode for trio and HTTP/3 runs: the shim wraps `worker_serve` "
             "but leaves an asyncio HTTP/1.1 run's requests alone, so *expected* does not apply to its "
             "row either.",
        note_order=4,
    ),
    soak=Soak(serve="._soak:serve", http2=True),
    rank=20,
    matrix=Matrix(
        default=Config("h11+h2", "wsproto", "asyncio"),
        # Every release: few, and the 0.17.x differ in how they copy.
        picks=Picks(every=True),
        eras=(
            ("0.14", ("3.8", "3.9")),
            ("0.15", ("3.8", "3.9", "3.10")),
            ("0.17", ("3.9", "3.10", "3.11", "3.12")),
            ("0.18", ("3.10", "3.11", "3.12", "3.13")),
        ),
        python_sweep=("0.11.0", _RELEASES.debian, "0.17.0", _NEWEST),
        # Every worker class (a skipped limit keeps < 0.14's trio worker out).
        configs=((Config("h11+h2", "wsproto", "uvloop"), ""), (Config("h11+h2", "wsproto", "trio"), "")),
        # One release per code-shape family (the hook points _hooks.py names).
        config_sweep=(
            (_RELEASES.debian, "3.9"),  # invoke_asgi era; Debian 12
            ("0.14.2", "3.10"),  # ASGIWrapper (scope, receive, send, sync_spawn)
            (_RELEASES.last_stateless, "3.11"),  # ASGIWrapper with call_soon
            (_RELEASES.buggy, "3.12"),  # per-connection copies (fix mode)
            (_NEWEST, "3.13"),  # per-request copies; trio snapshot
        ),
        # Debian 12's wrapt with Debian 12's release and Python, the newest 1.x elsewhere.
        wrapt_sweep=(
            (_RELEASES.debian, DEBIAN.python, DEBIAN.wrapt),
            (_RELEASES.buggy, "3.10", "1.x"),
            (_NEWEST, "3.11", "1.x"),
        ),
        ci_extra=((_RELEASES.last_stateless, ("3.8", "3.12")),),
        option_extras={
            "worker": {"uvloop": ("uvloop",), "trio": ("trio",)},
            # HTTP/3 is QUIC (aioquic) and, like TLS, needs a certificate (trustme).
            "http": {"h3": ("aioquic", "trustme"), "tls": ("trustme",)},
        },
        limits_rank=1,  # first in compat_matrix.md's list of limits
    ),
    releases=_RELEASES,
    pins=(
        Pin("<0.14.4", "trio<0.24",
            "0.11-0.14.3 catch trio.MultiError, which trio 0.24.0 removed (0.23.2 still runs their "
            "shutdown path: the lifespan shutdown of 0.13.2's trio worker needs it)", extra="trio"),
        Pin("<0.18", "aioquic>=0.9.0,<1.0", "the [h3] pin", extra="aioquic"),
        Pin("<0.18", "h2<4.3",
            "the h2c Upgrade of releases < 0.18 fails after the 101 with h2 >= 4.3 (TypeError)", extra="h2"),
    ),
    limits=(
        Limit("<0.12",
              "hypercorn 0.11.x, asyncio worker: passes loop= to asyncio (removed in Python 3.10)",
              python=">=3.10", worker=("asyncio", "uvloop")),
        Limit("<0.14",
              "hypercorn < 0.14, trio worker: a SIGINT often kills the process (exit -2) before "
              "lifespan.shutdown, natively as with the shim, so S10 cannot be observed reliably; not run",
              worker=("trio",), skipped=True),
        Limit("<0.14.4",
              "hypercorn < 0.14.4, trio worker: needs trio < 0.24 (trio.MultiError), which does not run "
              "on Python 3.13", python=">=3.13", worker=("trio",)),
    ),
    package=__name__,
)
