"""uvicorn: the descriptor (the hook code is ``_hooks.py``, loaded when uvicorn is imported)."""

from __future__ import annotations

from .._descriptor import Integration, Launch
from .._matrix import DEBIAN, Config, Limit, Matrix, NamedReleases, Picks, Pin
from .._tools import (
    BACKPORT,
    Bench,
    BenchArm,
    BenchComparison,
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
_NEWEST = "0.55.0"
_RELEASES = NamedReleases(
    debian="0.17.6",
    last_stateless="0.20.0",
    buggy="0.21.0",  # one copy per connection (upstream #1902); 0.21.1 fixed it
    reference="0.21.1",  # the first release with per-request copies
    soaked="0.17.6",  # Debian's
    # 0.11 hard-requires httptools==0.1.* (and uvloop) on Linux; httptools 0.1 does not build on
    # Python >= 3.11 (so: the plain package plus what it needs).
    without_deps="<0.12",
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
    newest_tested=_NEWEST,
    notable=("0.11.8", "0.15.0", "0.17.6", "0.20.0", "0.21.0", "0.21.1"),
    commands=("uvicorn",),
    launch=Launch(
        command="{python} -m uvicorn {app} --host {host} --port {port}",
        tls="--ssl-certfile {certfile} --ssl-keyfile {keyfile}",
        tls_transports=frozenset({"h1", "ws"}),
        options={
            # zttp (0.53+, with the zttp package): one stack for HTTP/1.1 and HTTP/2; --http2 turns
            # its HTTP/2 on (prior-knowledge h2c, and h2 by ALPN over TLS).
            "http": {**{v: f"--http {v}" for v in ("h11", "httptools")}, "zttp": "--http zttp --http2"},
            "ws": {v: f"--ws {v}" for v in ("websockets", "websockets-sansio", "wsproto", "none")},
            "lifespan": {v: f"--lifespan {v}" for v in ("on", "auto", "off")},
            "worker": {v: f"--loop {v}" for v in ("asyncio", "uvloop")},
        },
        capabilities="._kit:capabilities",
        lifespan_off={"lifespan": "off"},
        # "on" exits when the lifespan raises; "auto" carries on without it, which S8 needs.
        lifespan_raise={"lifespan": "auto"},
        driver="._kit:drive",
        # zttp has no WebSocket over HTTP/2 (RFC 8441).
        option_transports={"http": {"zttp": (frozenset({"h2c"}), frozenset({"h2-tls"}))}},
    ),
    field_page=Field(arms=(
        # The newest zttp, December 2026 (uvicorn's http2 extra is unpinned).
        FieldArm("uvicorn+zttp", "uvicorn+zttp {release}", ("--server", "uvicorn", "--tls", "--http", "zttp"),
                 extra=("zttp==0.0.35",),
                 note="`--http zttp --http2`: zttp's HTTP/1.1 and HTTP/2 (h2 by ALPN over TLS; it has "
                      "no WebSocket over HTTP/2), uvicorn's own WebSocket."),
        # gunicorn's arbiter over the uvicorn release: the name takes gunicorn's recipe features
        # (SIGTERM stops it: at SIGINT gunicorn 27.0.1's arbiter waits for this worker for ever).
        # uvicorn over TLS speaks no HTTP/2, hence the transports.
        FieldArm("uvicorn-worker", "uvicorn-worker {release} ({base})",
                 ("--command", "{python} -m gunicorn -k uvicorn_worker.UvicornWorker --workers 1 "
                  "--no-control-socket --bind {host}:{port} --certfile {certfile} --keyfile {keyfile} {app}",
                  "--name", "uvicorn-worker", "--transport", "h1", "--transport", "ws"),
                 distribution="uvicorn-worker", release="0.4.0", server="uvicorn-worker",
                 extra=(f"uvicorn=={_NEWEST}", "gunicorn==27.0.1"),
                 note="`gunicorn -k uvicorn_worker.UvicornWorker`, one worker process: uvicorn's code "
                      "serves (the shim's uvicorn module would act; the kit runs it natively, by its "
                      "own name). gunicorn's `--asgi-lifespan off` does not reach the worker."),
    )),
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
    matrix=Matrix(
        default=Config("h11", "websockets", "asyncio"),
        # The newest patch of every minor, plus 0.21.0: the one release with the per-connection bug.
        picks=Picks(fix_mode=True),
        eras=(
            ("0.14", ("3.8", "3.9")),
            ("0.18", ("3.8", "3.9", "3.10")),
            ("0.21", ("3.9", "3.10", "3.11")),
            ("0.30", ("3.10", "3.11", "3.12")),
            ("0.40", ("3.11", "3.12", "3.13")),
        ),
        python_sweep=("0.11.8", _RELEASES.debian, _RELEASES.buggy, _NEWEST),
        configs=(
            (Config("httptools", "wsproto", "asyncio"), ""),
            (Config("httptools", "websockets", "uvloop"), ""),
            (Config("h11", "websockets-sansio", "asyncio"), ">=0.35"),
        ),
        # One release per code-shape family (the hook points _hooks.py names), with the Python its
        # configurations run on (httptools' old pins build on <= 3.10 only).
        config_sweep=(
            ("0.11.8", "3.8"),  # 0.11-0.13 scope construction; websockets 8
            ("0.15.0", "3.9"),  # 0.14-0.17.1 (_handlers/http.py); Ubuntu 22.04
            (_RELEASES.debian, DEBIAN.python),  # 0.17.5-0.20; Debian 12
            (_RELEASES.buggy, "3.11"),  # the per-connection copy (fix mode)
            (_RELEASES.reference, "3.11"),  # first native release
            ("0.34.3", "3.12"),  # last minor before websockets-sansio
            (_NEWEST, "3.13"),  # newest: websockets-sansio
        ),
        # Debian 12's wrapt with Debian 12's release and Python, the newest 1.x elsewhere.
        wrapt_sweep=(
            ("0.11.8", "3.8", "1.x"),
            (_RELEASES.debian, DEBIAN.python, DEBIAN.wrapt),
            (_RELEASES.buggy, "3.10", "1.x"),
            (_NEWEST, "3.12", "1.x"),
        ),
        ci_extra=((_RELEASES.last_stateless, ("3.8", "3.12")),),
        option_extras={
            "http": {"httptools": ("httptools",)},
            "ws": {"websockets": ("websockets",), "websockets-sansio": ("websockets",),
                   "wsproto": ("wsproto",)},
            "worker": {"uvloop": ("uvloop",)},
        },
        limits_rank=2,  # second in compat_matrix.md's list of limits
    ),
    releases=_RELEASES,
    pins=(
        # 0.11: its own hard requirements, installed by hand (see without_deps).
        Pin("<0.12", "click==7.*", "0.11's requirement"),
        Pin("<0.12", "h11>=0.8,<0.10", "0.11's requirement"),
        Pin("<0.12", "websockets==8.*", "0.11's requirement"),
        Pin("<0.12", "uvloop>=0.14,<0.22", "0.11's requirement"),
        Pin("<0.12", "httptools==0.1.*", "0.11's requirement; builds on <= 3.10 only",
            extra="httptools", required_on="<3.11"),
        Pin("<0.12", "wsproto<1.0",
            "wsproto >= 1.0 needs h11 >= 0.10 (h11._headers.Headers), which 0.11 excludes", extra="wsproto"),
        Pin(">=0.12,<0.14", "websockets==8.*", "the [standard] pin", extra="websockets"),
        Pin(">=0.12,<0.14", "httptools==0.1.*", "the [standard] pin; builds on <= 3.10 only",
            extra="httptools"),
        # [standard] says >=9.1; 9.x is the series 0.14/0.15 were written against, and websockets < 10
        # passes loop= to asyncio, which Python 3.10 removed.
        Pin(">=0.14,<0.16", "websockets>=9.1,<10", "the [standard] pin's era", extra="websockets",
            python="<3.10"),
        Pin(">=0.14,<0.16", "websockets>=10,<11", "websockets < 10 passes loop= (gone in 3.10)",
            extra="websockets", python=">=3.10"),
        Pin(">=0.14,<0.16", "httptools==0.2.*", "the [standard] pin; builds on <= 3.10 only",
            extra="httptools"),
        Pin(">=0.16,<0.17", "httptools>=0.2.0,<0.4.0", "the [standard] pin", extra="httptools"),
        Pin(">=0.12,<0.15", "uvloop<0.22",
            "0.11-0.14 call asyncio.get_event_loop() in Server.run; uvloop >= 0.22 breaks it",
            extra="uvloop"),
    ),
    limits=(
        Limit("<0.14",
              "uvicorn < 0.14, websockets: websockets 8 (their pin) passes loop= to asyncio "
              "(removed in Python 3.10); wsproto runs", python=">=3.10", ws=("websockets",),
              instead=(("ws", "wsproto"),)),
        Limit("<0.17",
              "uvicorn < 0.17, httptools: their httptools pins (< 0.4) do not build on Python 3.11+; "
              "h11 runs",
              python=">=3.11", http=("httptools",), instead=(("http", "h11"),)),
    ),
    package=__name__,
)
