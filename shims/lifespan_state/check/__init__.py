"""The check kit: CONFORMANCE.md's checks S1-S12 against real server processes on 127.0.0.1.

``lifespan-state check`` is its command line; the same pieces are a Python API for the matrix job,
the patch proofs and the benchmarks:

* :func:`run_checks` — check one configuration of the server installed in this environment,
  natively and/or with the shim; returns :class:`ResultRecord` objects (``as_dict()`` is the JSON
  form ``lifespan-state check --json`` prints);
* :func:`check_configuration` with a :class:`ServerBuilder` from :data:`BUILDERS` — the same with
  full control; new configurations are added to the builders' tables (see ``_servers``);
* :class:`ServerProcess`, :func:`free_port` — start any server command and stop it cleanly;
* :class:`HTTP1Connection`, :class:`WebSocket`, :class:`HTTP2Connection` — the clients;
  :func:`register_transport` plugs another client protocol into S5, S6 and S11.

Nothing here imports a server: servers run in subprocesses (the probe app,
``lifespan_state.check._probe:app``, is what they serve).
"""

from __future__ import annotations

from ._checks import check_configuration, run_checks
from ._h1 import HTTP1Connection, HTTPResponse, ProtocolError
from ._h2 import HTTP2Connection, HTTP2Response, h2_available, tls_files
from ._records import CHECKS, CheckResult, ResultRecord
from ._runner import ServerProcess, ServerStartError, free_port, wait_for_port
from ._servers import (
    BUILDERS,
    PROBE_APP,
    Capabilities,
    ConfigError,
    LaunchContext,
    ServerBuilder,
    register,
)
from ._transports import TRANSPORTS, Session, Transport, register_transport
from ._ws import WebSocket, WebSocketClosed

__all__ = [
    "BUILDERS",
    "CHECKS",
    "PROBE_APP",
    "TRANSPORTS",
    "Capabilities",
    "CheckResult",
    "ConfigError",
    "HTTP1Connection",
    "HTTP2Connection",
    "HTTP2Response",
    "HTTPResponse",
    "LaunchContext",
    "ProtocolError",
    "ResultRecord",
    "ServerBuilder",
    "ServerProcess",
    "ServerStartError",
    "Session",
    "Transport",
    "WebSocket",
    "WebSocketClosed",
    "check_configuration",
    "free_port",
    "h2_available",
    "register",
    "register_transport",
    "run_checks",
    "tls_files",
    "wait_for_port",
]
