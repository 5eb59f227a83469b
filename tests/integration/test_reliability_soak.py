"""Soak: many mixed requests through a shimmed server, zero state violations, memory flat.

The default run soaks 5,000 requests per server; the full size (100,000 requests at concurrency
64, the figures of docs/guarantees.md) is marked slow and is also the documented command
``python -m tools.soak --requests 100000 --concurrency 64``. Negative controls prove that the
soak sees what it is looking for: buggy native servers without the shim produce violations, and
an app that keeps every request's state produces memory growth.

Memory in the default run is the count of gc-tracked objects, taken once it has settled
(tools.soak's quiet samples): exact, so no growth at all is allowed beyond a margin a leak of one
object per request exceeds several times over. Server RSS, which the allocator's noise and the
machine's load move, is judged by the full-size soak only.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest
from tools.releases import SERVERS
from tools.soak import MAX_GROWTH_KIB, SOAKED, problems, run_soak

OLD = {name: SERVERS[name].soaked for name in SOAKED}


def assert_clean(result: Dict[str, Any], requests: int, max_growth_kib: Optional[int] = None) -> None:
    assert problems(result, requests, max_growth_kib=max_growth_kib) == [], result
    kinds = result["by_kind"]
    # The mix really happened: keep-alive runs, one-request connections, WebSockets, and HTTP/2
    # streams where the server speaks HTTP/2.
    assert kinds["h1_keepalive"] and kinds["h1_close"] and kinds["websocket"], kinds
    assert result["ws_messages"] > kinds["websocket"]
    if result["server"] == "hypercorn":
        assert kinds["h2_stream"], kinds
    shutdown = result["shutdown"]
    assert shutdown["shutdown_same_dict"] and shutdown["shutdown_token_ok"]


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_soak_small(server: str) -> None:
    result = run_soak(server, OLD[server], requests=5000, concurrency=64, deadline=240)
    assert_clean(result, 5000)


@pytest.mark.parametrize(("server", "version"), [(name, SERVERS[name].buggy) for name in SOAKED])
def test_soak_sees_violations_on_buggy_native_servers(server: str, version: str) -> None:
    """Negative control: per-connection copies (uvicorn 0.21.0, hypercorn 0.17.3) leak keys."""
    result = run_soak(server, version, requests=800, concurrency=64, shim=False, deadline=240)
    assert result["violations"] > 50, result["server_stats"]
    assert any("foreign keys" in e for e in result["server_stats"]["examples"])


def test_soak_sees_a_leak() -> None:
    """Negative control: an app that keeps every request's state grows, and the soak says so."""
    result = run_soak("uvicorn", OLD["uvicorn"], requests=1200, concurrency=64, leak=True, deadline=240)
    assert result["violations"] == 0
    assert result["object_growth"] >= 500  # one kept dict (and more) per second-half request
    assert any("gc-tracked objects" in p for p in problems(result, 1200))


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_soak_full(server: str) -> None:
    result = run_soak(server, OLD[server], requests=100_000, concurrency=64, deadline=1800)
    assert_clean(result, 100_000, max_growth_kib=MAX_GROWTH_KIB)


def test_soak_gunicorn_asgi_worker() -> None:
    """gunicorn 26.2.0 ``-k asgi`` with the shim: clean; natively it leaks (the negative control)."""
    result = run_soak("gunicorn", "26.2.0", requests=5000, concurrency=64, http2=False, deadline=240)
    assert_clean(result, 5000)
    native = run_soak(
        "gunicorn", "26.2.0", requests=800, concurrency=64, http2=False, shim=False, deadline=240
    )
    assert native["violations"] > 50, native["server_stats"]
