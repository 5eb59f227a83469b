"""The check kit: docs/CONFORMANCE.md's checks S1-S13 against real server processes on 127.0.0.1.

``lifespan-state check`` is its command line; the Python API: :func:`run_checks` (what the
command runs for one server) and :func:`check_configuration` (one configuration), each with a
:class:`Recipe` (:data:`RECIPES`, made from the integrations' descriptors, or :func:`custom_recipe`
for any command), return :class:`ResultRecord` objects (``as_dict()`` is the ``--json`` form);
:data:`CHECK_TABLE` holds each :class:`Check` (its requests, the probe fields it reads, its
judge); :class:`ServerProcess`, :func:`free_port`, :func:`wait_for_port` and :func:`http_get`
start, stop and ask any server command; the clients and :data:`TRANSPORTS` are what the checks
run over. Nothing here imports a server: servers run in subprocesses.
"""


from __future__ import annotations

from ._checks import check_configuration, run_checks, shim_supports
from ._h1 import HTTP1Connection, HTTPResponse, ProtocolError
from ._h2 import HTTP2Connection, HTTP2Response
from ._recipes import PROBE_APP, RECIPES, Capabilities, ConfigError, LaunchContext, Recipe, custom_recipe
from ._records import CheckResult, ResultRecord
from ._runner import ServerProcess, ServerStartError, free_port, http_get, wait_for_port
from ._spec import CHECK_TABLE, CHECKS, Check
from ._transports import TRANSPORTS, NotApplicable, Session, Transport
from ._ws import WebSocket, WebSocketClosed

__all__ = [
    "CHECKS", "CHECK_TABLE", "PROBE_APP", "RECIPES", "TRANSPORTS", "Capabilities", "Check", "CheckResult",
    "ConfigError", "HTTP1Connection", "HTTP2Connection", "HTTP2Response", "HTTPResponse",
    "LaunchContext", "NotApplicable", "ProtocolError", "Recipe", "ResultRecord", "ServerProcess",
    "ServerStartError", "Session", "Transport", "WebSocket", "WebSocketClosed",
    "check_configuration", "custom_recipe", "free_port", "http_get",
    "run_checks", "shim_supports", "wait_for_port"
]
