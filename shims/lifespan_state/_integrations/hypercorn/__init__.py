"""hypercorn: the descriptor (the hook code is ``_hooks.py``, loaded when hypercorn is imported)."""

from __future__ import annotations

from .._descriptor import Integration, Launch, Probes

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
    newest_tested="0.18.0",
    notable=("0.11.2", "0.13.2", "0.14.4", "0.16.0", "0.17.3", "0.18.0"),
    hooks="._hooks:SHIM",
    probes=Probes(has_state="._hooks:has_state"),
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
    rank=20,
    package=__name__,
)
