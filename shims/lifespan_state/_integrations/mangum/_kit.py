"""mangum's part of the check kit (``lifespan-state check --harness mangum``): the probe behind a
``Mangum`` handler invoked with synthetic API Gateway REST (v1) events. Runs in the harness arm's
process only.

A Lambda execution environment runs one invocation at a time on one thread, and mangum drives the
app with that thread's event loop (``asyncio.get_event_loop``); so every invocation of a run goes
to the run's one thread, in turn, whichever thread of the kit asks.
"""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List
from urllib.parse import parse_qs, urlsplit

__all__ = ["make", "open"]


def make(app: Any) -> Any:
    """The app itself: each run makes its own handler (its lifespan mode is the run's)."""
    return app


def event(target: str) -> Dict[str, Any]:
    """An API Gateway REST API (payload 1.0) proxy event for ``GET target``."""
    url = urlsplit(target)
    query: Dict[str, List[str]] = parse_qs(url.query, keep_blank_values=True)
    return {
        "resource": "/{proxy+}",
        "path": url.path,
        "httpMethod": "GET",
        "headers": {"host": "h", "x-forwarded-proto": "https"},
        "multiValueHeaders": {},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": url.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": "GET", "path": url.path,
                           "stage": "test", "identity": {"sourceIp": "127.0.0.1"}},
        "body": None,
        "isBase64Encoded": False,
    }


@contextlib.contextmanager
def open(app: Any, portal: Any, lifespan: bool) -> Iterator[Any]:
    """One run: a handler with ``lifespan="auto"`` (mangum's default), or ``"off"``."""
    from mangum import Mangum

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda") as invoker:
        # Made on its thread: Mangum sets up the event loop of the thread that makes it.
        handler = invoker.submit(Mangum, app, lifespan="auto" if lifespan else "off").result()

        def get(target: str) -> Any:
            answer = invoker.submit(handler, event(target), SimpleNamespace()).result()
            return SimpleNamespace(status_code=answer["statusCode"], json=lambda: json.loads(answer["body"]))

        try:
            yield SimpleNamespace(get=get)
        finally:
            invoker.submit(_close_loop).result()


def _close_loop() -> None:
    import asyncio

    asyncio.get_event_loop().close()
