"""uvicorn: the descriptor (the hook code is ``_hooks.py``, loaded when uvicorn is imported)."""

from __future__ import annotations

from .._descriptor import Integration, Launch, Probes

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
    rank=10,
    package=__name__,
)
