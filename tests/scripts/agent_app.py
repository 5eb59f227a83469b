"""A Starlette app whose lifespan yields state, served under a tracing agent.

Each response says which process served it, whose lifespan state it got, and whether the agent
named by ``AGENT`` (opentelemetry, ddtrace, newrelic) saw the request: the agent's own view of
the current span or transaction, so an agent that is not running answers ``false``.
"""

from __future__ import annotations

import importlib
import os
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def agent_sees_request() -> bool:
    # Imported by name: the agents are installed only in the environments that run them.
    agent = os.environ.get("AGENT", "")
    if agent == "ddtrace":
        return importlib.import_module("ddtrace.trace").tracer.current_span() is not None
    if agent == "newrelic":
        return importlib.import_module("newrelic.agent").current_transaction() is not None
    if agent == "opentelemetry":
        span = importlib.import_module("opentelemetry.trace").get_current_span()
        return bool(span.get_span_context().is_valid)
    return False


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[Dict[str, Any]]:
    yield {"pid": os.getpid()}


async def home(request: Request) -> JSONResponse:
    return JSONResponse({"pid": os.getpid(), "state_pid": request.state.pid, "agent": agent_sees_request()})


app = Starlette(routes=[Route("/", home)], lifespan=lifespan)
