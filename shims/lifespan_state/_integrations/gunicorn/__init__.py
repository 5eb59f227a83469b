"""gunicorn's native ASGI worker (``-k asgi``): the descriptor (hook code: ``_hooks.py``).

Only the ASGI worker: ``UvicornWorker`` runs uvicorn (the uvicorn integration's business), and the
WSGI workers have no ASGI scopes, so the trigger is ``gunicorn.workers.gasgi``.
"""

from __future__ import annotations

from .._descriptor import CopyProbe, Integration, Launch, Probes
from .._matrix import Config, Matrix, Picks

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
    hooks="._hooks:SHIM",
    probes=Probes(
        has_state="._hooks:has_state",
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
