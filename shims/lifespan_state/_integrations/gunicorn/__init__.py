"""gunicorn's native ASGI worker (``-k asgi``): the descriptor (hook code: ``_hooks.py``).

Only the ASGI worker: ``UvicornWorker`` runs uvicorn (the uvicorn integration's business), and the
WSGI workers have no ASGI scopes, so the trigger is ``gunicorn.workers.gasgi``.
"""

from __future__ import annotations

from .._descriptor import CopyProbe, Integration, Launch, Probes
from .._matrix import Config, Matrix, Picks
from .._tools import Bench, BenchRow, Field, Patches, PatchSeries, Soak, UpstreamTests

INTEGRATION = Integration(
    name="gunicorn",
    kind="server",
    imports=("gunicorn.workers.gasgi",),
    ranges=(
        ("24.0.0", "fix", "the ASGI worker hands every request the worker's lifespan dict itself"),
        ("27.0.0", "native", "per-request copies since 27.0.0"),
    ),
    newest_tested="27.0.1",
    notable=("24.0.0", "26.2.0", "27.0.1"),
    probes=Probes(
        copies=CopyProbe(
            "._hooks:hands_out_copies",
            native="metadata says {version} but every request gets a copy of worker.state (a patched build)",
            fix="{version} hands requests the worker's lifespan dict itself",
        ),
    ),
    commands=("gunicorn",),
    launch=Launch(
        # The native ASGI worker (24.0+); one worker process: one lifespan to observe.
        command="{python} -m gunicorn -k asgi --workers 1 --bind {host}:{port} {app}",
        tls="--certfile {certfile} --keyfile {keyfile} --http-protocols h2,h1",
        tls_transports=frozenset({"h1", "ws", "h2-tls"}),
        options={"lifespan": {v: f"--asgi-lifespan {v}" for v in ("auto", "on", "off")}},
        lifespan_off={"lifespan": "off"},
        lifespan_raise={"lifespan": "auto"},
        # 27.x opens a control socket under $HOME (or $XDG_RUNTIME_DIR): the run's own directory.
        env={"HOME": "{workdir}", "XDG_RUNTIME_DIR": "{workdir}"},
        # SIGINT is gunicorn's quick exit; SIGTERM its graceful one (lifespan.shutdown runs).
        stop_signal="SIGTERM",
    ),
    field_page=Field(),
    patches=Patches(
        series=(
            PatchSeries("26.2.0", "3.11", ("S5",),
                        summary="`-k asgi`: a shallow copy of the lifespan state per HTTP, WebSocket and "
                                "HTTP/2 scope instead of the worker's dict itself (27.0.0's fix, "
                                "backported)",
                        tests=UpstreamTests(
                            # the release's requirements_test.txt
                            "3.11", ("gevent", "coverage", "packaging", "pytest>=9.0.3", "pytest-cov",
                                     "pytest-asyncio", "gunicorn_h1c>=0.6.9", "h2>=4.4.1", "uvloop>=0.19.0",
                                     "inotify>=0.2.10"),
                            # the C parser (gunicorn_h1c, newest) rejects some invalid requests
                            # differently from what these expect: fails unpatched as well
                            ("tests/test_invalid_requests.py::test_http_parser[fast-",))),
        ),
        changelog="docs/content/news.md",
    ),
    bench=Bench(
        command="{python} -m gunicorn -k asgi --workers 1 --bind {host}:{port} --asgi-loop uvloop "
                "--log-level warning {release_options} benchapp:app",
        extras=("uvloop",),
        # 27.x opens a control socket at one path under $HOME by default: the two arms of a row
        # would fight over it, and it plays no part in serving.
        options_since=(("27", "--no-control-socket"),),
        # 26.2.0 is the last ASGI worker handing every request the worker's own dict (27.0.0
        # fixed it).
        rows=(
            BenchRow("26.2.0", "h1", 4, "fix", quick=True),
            BenchRow("26.2.0", "h1", 100, "fix"),
            BenchRow("newest", "h1", 4, "native"),
        ),
        control=("26.2.0", "h1"),
        note="gunicorn rows run its own ASGI worker (`-k asgi`, one worker process): 26.2.0 hands every "
             "request the worker's lifespan dict itself (the shim gives each its own copy), 27.x copies "
             "natively.",
        note_order=1,
    ),
    # Soaked at a release named on the command line or by a test.
    soak=Soak(serve="._soak:serve", default=False),
    rank=30,
    matrix=Matrix(
        default=Config("h1", "ws", "asgi"),  # -k asgi, one worker process
        picks=Picks(every=True),
        python_floor="3.10",  # every release's Requires-Python
        python_sweep=("24.0.0", "26.2.0", "27.0.1"),  # first -k asgi, last shared dict, newest (fixed)
        config_sweep=(("26.2.0", "3.12"), ("27.0.1", "3.12")),  # TLS: HTTP/2 streams share it too
        wrapt_sweep=(("26.2.0", "3.11", "1.x"),),
        ci_representative="26.2.0",
        by_recipe=True,
        reported=("gunicorn-h1c",),
    ),
    package=__name__,
)
