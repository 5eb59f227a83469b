"""hypercorn scenarios beyond the conformance checks, for this repository's tests only.

Run as ``python tests/scripts/hypercorn_scenarios.py SCENARIO [--shim on|off] [--worker W]`` in
a release's environment; prints one JSON document ``{"scenario": ..., "results": {name: {"ok":
bool, "detail": str, ...}}}``. Servers run as real processes on 127.0.0.1 (except ``trio-serve``
and ``patching``, which import hypercorn in this process on purpose). The checks S1-S12 over every
transport (HTTP/2 over TLS, HTTP/3, WebSocket over HTTP/2 included) are ``lifespan-state check``'s;
these are the cases around them: ``h2c-upgrade`` (curl), ``workers`` (``-w 2``), ``starlette``,
``wsgi``, ``dispatcher``, ``proxy-fix-lock``, ``trio-serve``, ``patching``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from lifespan_state.check import HTTP1Connection, ServerProcess, free_port
from lifespan_state.check._runner import HOST

Json = Dict[str, Any]
HERE = Path(__file__).resolve().parent
#: The app variants (``hypercorn_apps`` next to this file).
_APPS = "hypercorn_apps"
PROBE_APP = "lifespan_state.check._probe:app"


def _env(shim: bool) -> Dict[str, str]:
    env = dict(os.environ)
    env["LIFESPAN_STATE_PROBE_SHIM"] = "1" if shim else "0"
    env.pop("LIFESPAN_STATE_DISABLE", None)
    # The servers import the test-only app variants from this directory.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


def _server(app: str, worker: str, shim: bool, *extra: str, port: Optional[int] = None,
            timeout: float = 10.0) -> ServerProcess:
    port = port or free_port()
    bind: List[str] = []
    if "--insecure-bind" not in extra and "--bind" not in extra:
        bind = ["--bind", f"{HOST}:{port}"]
    argv = [sys.executable, "-m", "hypercorn", "--worker-class", worker, *bind, *extra, app]
    return ServerProcess(argv, port=port, env=_env(shim), start_timeout=max(20.0, 2 * timeout))


def _get(port: int, target: str, timeout: float) -> Json:
    with HTTP1Connection(HOST, port, timeout=timeout) as conn:
        response = conn.get(target)
    if response.status != 200:
        raise RuntimeError(f"GET {target} answered {response.status}")
    data: Json = response.json()
    return data


def _result(ok: bool, detail: str, **observed: Any) -> Json:
    return {"ok": ok, "detail": detail, **observed}


def _guard(results: Json, name: str, action: Callable[[], Json]) -> None:
    try:
        results[name] = action()
    except Exception as exc:
        results[name] = _result(False, f"{type(exc).__name__}: {exc}")


def _sequence_problem(views: List[Json], key: str) -> Optional[str]:
    """S5 on one connection: the key request 1 wrote and its replaced 'obj' stay with request 1."""
    if any(not isinstance(v.get("keys"), list) for v in views):
        return "a request had no state dict"
    if key not in views[0]["keys"]:
        return "request 1 did not keep its own key"
    for n, view in enumerate(views[1:], start=2):
        if key in view["keys"]:
            return f"request {n} on the same connection saw the key request 1 wrote"
        if view.get("obj_id") != view.get("lifespan_obj_id_now"):
            return f"request {n} saw an 'obj' other than the lifespan's"
    return None


def scenario_h2c_upgrade(shim: bool, worker: str, timeout: float) -> Json:
    """HTTP/2 reached by ``Upgrade: h2c`` (curl): the upgraded request and the next stream."""
    import shutil
    import subprocess

    curl = shutil.which("curl")
    if curl is None:
        return {"h2c_upgrade": _result(True, "skipped: curl is not installed", skipped=True)}
    with _server(PROBE_APP, worker, shim, timeout=timeout) as server:
        base = f"http://{HOST}:{server.port}"
        done = subprocess.run(
            [curl, "-s", "--http2", "-m", str(timeout), "-w", "\\n", f"{base}/?write=req-up&replace=1",
             f"{base}/", f"{base}/"], capture_output=True, text=True, timeout=timeout + 5, check=False)
    views = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if len(views) != 3:
        return {"h2c_upgrade": _result(False, f"curl answered {len(views)} of 3 (exit {done.returncode})")}
    problem = _sequence_problem(views, "req-up")
    if problem is None and {v.get("http_version") for v in views} != {"2"}:
        problem = f"not upgraded to HTTP/2: {[v.get('http_version') for v in views]}"
    if problem is None and len({v.get("client_port") for v in views}) != 1:
        problem = "curl did not reuse the upgraded connection"
    return {"h2c_upgrade": _result(problem is None, problem or
                                   "S5 holds on a connection upgraded to h2c (3 streams)")}


# -- processes and app variants -----------------------------------------------------------------

def scenario_workers(shim: bool, worker: str, timeout: float) -> Json:
    """``-w 2``: two worker processes, each running its own lifespan with its own state."""
    seen: Dict[int, Json] = {}
    with _server(PROBE_APP, worker, shim, "--workers", "2", timeout=timeout) as server:
        deadline = time.monotonic() + 4 * timeout
        n = 0
        while len(seen) < 2 and time.monotonic() < deadline:
            view = _get(server.port, f"/?append=from-{n}", timeout)
            seen.setdefault(int(view["pid"]), view)
            n += 1
    views = list(seen.values())
    problem = None
    if len(views) < 2:
        problem = f"only {len(views)} worker process answered {n} requests"
    elif any(not isinstance(v.get("keys"), list) or "obj" not in v["keys"] for v in views):
        problem = "a worker's request had no lifespan state"
    elif any((v.get("lifespan") or {}).get("pid") != v["pid"] for v in views):
        problem = "a worker's state came from another process's lifespan"
    elif any(len(v.get("lifespan_runs") or ()) != 1 for v in views):
        problem = "a worker ran more than one lifespan"
    return {"workers": _result(problem is None, problem or
                               "two worker processes, each with its own lifespan state",
                               pids=sorted(seen))}


def scenario_starlette(shim: bool, worker: str, timeout: float) -> Json:
    """A Starlette app whose lifespan yields state (fails at startup without lifespan state)."""
    results: Json = {}
    try:
        with _server(f"{_APPS}:starlette()", worker, shim, timeout=timeout) as server:
            with HTTP1Connection(HOST, server.port, timeout=timeout) as conn:
                first = conn.get("/?write=x")
                body: Json = first.json() if first.status == 200 else {}
            with HTTP1Connection(HOST, server.port, timeout=timeout) as conn:
                second = conn.get("/")
                later: Json = second.json() if second.status == 200 else {}
    except Exception as exc:
        return {"starlette": _result(False, f"{type(exc).__name__}: {exc}")}
    problem = None
    if first.status != 200:
        problem = f"GET / answered {first.status}"
    elif not {"pool", "started"} <= set(body.get("keys", [])):
        problem = f"request.state lacks the yielded keys: {body.get('keys')}"
    elif "written" in later.get("keys", []):
        problem = "a later request saw request.state.written of an earlier one"
    elif later.get("pool_id") != body.get("pool_id"):
        problem = "requests saw different pool objects"
    results["starlette"] = _result(problem is None, problem or
                                   "a Starlette app yielding state serves requests")
    return results


def scenario_wsgi(shim: bool, worker: str, timeout: float) -> Json:
    with _server(f"{_APPS}:wsgi()", worker, shim, timeout=timeout) as server:
        view = _get(server.port, "/", timeout)
    problem = None
    if any("state" in k.lower() for k in view.get("environ_keys", [])):
        problem = "the WSGI environ carries state"
    elif shim and view.get("state_apps") not in (0, None):
        problem = f"{view.get('state_apps')} StateApp objects exist for a WSGI app"
    return {"wsgi": _result(problem is None, problem or "the WSGI app is served untouched",
                            state_apps=view.get("state_apps"))}


def scenario_dispatcher(shim: bool, worker: str, timeout: float) -> Json:
    with _server(f"{_APPS}:dispatcher({worker!r})", worker, shim, timeout=timeout) as server:
        probe_view = _get(server.port, "/?write=req-d", timeout)
        other = _get(server.port, "/other", timeout)
        again = _get(server.port, "/", timeout)
    problem = None
    if not isinstance(probe_view.get("keys"), list):
        problem = "the probe mount had no state"
    elif "other-only" in probe_view["keys"]:
        problem = "the probe mount saw the other mount's key"
    elif not {"items", "obj", "run"} <= set(probe_view["keys"]):
        problem = "the probe mount's requests lack its lifespan keys"
    elif other.get("keys") != ["other-only"]:
        problem = f"the /other mount saw {other.get('keys')} instead of its own namespace"
    elif "req-d" in (again.get("keys") or []):
        problem = "a later request saw the key an earlier one wrote"
    elif again.get("obj_id") != again.get("lifespan_obj_id_now"):
        problem = "a request's 'obj' is not its mount's lifespan object"
    return {"dispatcher": _result(problem is None, problem or
                                  "each mounted app has its own namespace; requests get copies")}


def scenario_proxy_fix_lock(shim: bool, worker: str, timeout: float) -> Json:
    server = _server(f"{_APPS}:proxy_fix()", worker, shim, timeout=timeout)
    # One connection per request: a server answering 500 may close the connection.
    with server:
        with HTTP1Connection(HOST, server.port, timeout=timeout) as conn:
            first = conn.request("GET", "/lock", headers=[("X-Forwarded-For", "203.0.113.7")])
        with HTTP1Connection(HOST, server.port, timeout=timeout) as conn:
            second = conn.get("/lock")
    problem = None
    if first.status != 200 or second.status != 200:
        problem = f"requests through ProxyFixMiddleware answered {first.status}/{second.status}"
    else:
        a, b = first.json(), second.json()
        if not (a["lock_usable"] and b["lock_usable"]):
            problem = "the lock did not reach the request"
        elif a["lock_id"] != b["lock_id"]:
            problem = "requests saw different lock objects (the state was deep-copied)"
        elif a["client"][:1] != ["203.0.113.7"]:
            problem = "ProxyFixMiddleware no longer applied X-Forwarded-For"
        elif a["state_type"] != "dict":
            problem = f"the state behind the middleware is a {a['state_type']}"
    return {"proxy_fix_lock": _result(problem is None, problem or
                                      "a lock in lifespan state survives ProxyFixMiddleware")}


# -- in-process -----------------------------------------------------------------------------------

def scenario_trio_serve(shim: bool, worker: str, timeout: float) -> Json:
    """``hypercorn.trio.serve`` twice with one Config: each run starts empty (S9 on trio)."""
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve

    if shim:
        import lifespan_state

        lifespan_state.activate("hypercorn")
    from lifespan_state.check._probe import app

    port = free_port()
    config = Config()
    config.bind = [f"{HOST}:{port}"]
    views: List[Json] = []

    async def one_run(target: str) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve, app, config)
            views.append(await trio.to_thread.run_sync(_get, port, target, timeout))
            nursery.cancel_scope.cancel()

    trio.run(one_run, "/?write=req-run1")
    trio.run(one_run, "/")
    problem = None
    if any(not isinstance(v.get("keys"), list) for v in views):
        problem = "a request had no state"
    elif "req-run1" in views[1]["keys"]:
        problem = "the second run saw a key written in the first"
    elif views[0]["run"] == views[1]["run"]:
        problem = "both runs share one lifespan namespace"
    return {"trio_serve": _result(problem is None, problem or
                                  "two hypercorn.trio.serve runs, each its own namespace")}


def scenario_patching(shim: bool, worker: str, timeout: float) -> Json:
    """The wraps: every hypercorn binding of worker_serve wrapped once, restored exactly."""
    import lifespan_state
    from lifespan_state._patching import is_wrapped_by_us, wrapper_depth

    names = ["hypercorn.asyncio", "hypercorn.asyncio.run"]
    if importlib.util.find_spec("trio") is not None:
        names += ["hypercorn.trio", "hypercorn.trio.run"]
    lifespan_state.activate("hypercorn")  # before the worker modules are imported: lazy hooks
    modules = [importlib.import_module(n) for n in names]
    run_module = importlib.import_module("hypercorn.asyncio.run")
    original = getattr(run_module.worker_serve, "__wrapped__", run_module.worker_serve)
    status = lifespan_state.status()["hypercorn"].as_dict()
    lifespan_state.activate("hypercorn")  # again: must not stack
    depths = {m.__name__: wrapper_depth(m.worker_serve) for m in modules}
    wrapped = {m.__name__: is_wrapped_by_us(m.worker_serve) for m in modules}
    lifespan_state.deactivate("hypercorn")
    restored = {m.__name__: not is_wrapped_by_us(m.worker_serve) for m in modules}
    exact = modules[0].worker_serve is original and run_module.worker_serve is original
    problem = None
    if status["mode"] not in ("add", "fix"):
        problem = f"mode {status['mode']}"
    elif status["mode"] == "add" and not all(wrapped.values()):
        problem = f"not every binding wrapped: {wrapped}"
    elif any(d > 1 for d in depths.values()):
        problem = f"stacked wrappers: {depths}"
    elif not all(restored.values()) or not exact:
        problem = "deactivate() left a wrapper in place"
    return {"patching": _result(problem is None, problem or "wrapped once, restored exactly",
                                status=status, depths=depths)}


SCENARIOS: Dict[str, Callable[[bool, str, float], Json]] = {
    "h2c-upgrade": scenario_h2c_upgrade,
    "workers": scenario_workers,
    "starlette": scenario_starlette,
    "wsgi": scenario_wsgi,
    "dispatcher": scenario_dispatcher,
    "proxy-fix-lock": scenario_proxy_fix_lock,
    "trio-serve": scenario_trio_serve,
    "patching": scenario_patching,
}


def run_scenario(name: str, shim: bool = True, worker: str = "asyncio", timeout: float = 10.0) -> Json:
    try:
        results = SCENARIOS[name](shim, worker, timeout)
    except Exception as exc:
        results = {name.replace("-", "_"): _result(False, f"{type(exc).__name__}: {exc}")}
    return {"scenario": name, "shim": "on" if shim else "off", "worker": worker, "results": results}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="hypercorn_scenarios.py")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--shim", choices=["on", "off"], default="on")
    parser.add_argument("--worker", default="asyncio")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    document = run_scenario(args.scenario, args.shim == "on", args.worker, args.timeout)
    print(json.dumps(document), flush=True)
    results = [r for k, r in document["results"].items() if not k.startswith("_")]
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
