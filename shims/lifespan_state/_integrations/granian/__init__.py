"""granian (``--interface asgi``): the descriptor (hook code: ``_hooks.py``, loaded with
``granian.asgi``; RSGI and WSGI never reach it)."""

from __future__ import annotations

from .._descriptor import CopyProbe, Integration, Launch, Probes

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
    rank=40,
    package=__name__,
)
