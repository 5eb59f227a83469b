"""The checks S1-S12 of CONFORMANCE.md against a real server process.

One *configuration* (a server, its options, shim on or off) is checked by a few server runs:

* the main run: the probe app under the configuration; HTTP/1.1 keep-alive, WebSocket and (where
  the server speaks it) HTTP/2 clients collect observations for S1-S7 and S11-S12; stopping the
  server with SIGINT makes the probe write what ``lifespan.shutdown`` saw (S10);
* S8 runs: lifespan disabled (where the server can disable it) and an app raising on the lifespan
  scope;
* S9: an in-process driver (``python -m lifespan_state.check._driver``) that serves the probe twice
  with one config and with two servers at once, in a subprocess — the checking process never
  imports a server.

Every observation is kept with the step that made it; a check fails with what was observed, and is
skipped only where it cannot apply (say so in the detail).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set

from .._registry import DISABLE_ENV
from ._records import CHECKS, FAIL, PASS, SKIP, CheckResult, ResultRecord
from ._runner import HOST, ServerProcess, ServerStartError, free_port
from ._servers import BUILDERS, Capabilities, LaunchContext, ServerBuilder, load_extensions
from ._transports import TRANSPORTS, Session, Transport, ok_json
from ._ws import WebSocket

__all__ = ["Progress", "check_configuration", "run_checks"]

Progress = Callable[[str], None]
Json = Dict[str, Any]

#: Keys the probe's lifespan stores at startup.
LIFESPAN_KEYS = ("items", "obj", "run")
#: Prefix of every key a request writes (so that leaks are easy to spot in any dict).
_REQ = "req-"


def _silent(_: str) -> None:
    pass


def _fmt(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _request_keys(keys: Optional[Iterable[str]]) -> List[str]:
    return sorted(k for k in (keys or ()) if k.startswith(_REQ))


@dataclass
class _Run:
    """Observations of one server run, step by step."""

    steps: Dict[str, Any] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)
    start_error: str = ""
    exit_code: Optional[int] = None
    log_tail: str = ""
    shutdown: List[Json] = field(default_factory=list)

    def step(self, name: str, action: Callable[[], Any]) -> None:
        if self.start_error:
            return
        try:
            self.steps[name] = action()
        except Exception as exc:
            self.errors[name] = _fmt(exc)

    def missing(self, *names: str) -> Optional[str]:
        """Why the steps ``names`` have no observation, or None when they all have one."""
        if self.start_error:
            return self.start_error
        for name in names:
            if name in self.errors:
                return f"{name}: {self.errors[name]}"
            if name not in self.steps:
                return f"{name}: not run"
        return None


# -- steps of the main run -------------------------------------------------------------------------

def _step_keepalive(c: Session) -> Json:
    """S5 over HTTP/1.1: write + replace, then two plain requests, all on one connection."""
    with c.connect() as conn:
        views = [
            ok_json(conn.get(f"/?write={_REQ}s5&replace=1")),
            ok_json(conn.get("/")),
            ok_json(conn.get("/")),
        ]
        return {"views": views, "local_port": conn.local_port, "sent": conn.requests_sent}


def _step_s3(c: Session) -> Json:
    written = c.get(f"/?write={_REQ}s3&replace=1")
    return {"written": written, "after": c.get("/")}


def _step_s4(c: Session) -> Json:
    appended = c.get("/?append=v-s4")
    return {"appended": appended, "after": c.get("/")}


def _step_ws(c: Session) -> Json:
    """S6: a WebSocket after an HTTP request on the same socket, then a fresh one."""
    conn = c.connect()
    try:
        http_view = ok_json(conn.get(f"/?write={_REQ}s6-http"))
        with WebSocket(conn, "/ws") as ws:
            first = ws.receive_json()
            ws.send_text(f"write {_REQ}s6-ws")
            written = ws.receive_json()
    finally:
        conn.close()
    with WebSocket.connect(c.ctx.host, c.ctx.port, "/ws", timeout=c.timeout) as ws2:
        fresh = ws2.receive_json()
    return {"http": http_view, "first": first, "written": written, "fresh_ws": fresh,
            "fresh_http": c.get("/")}


def _step_s7(c: Session) -> Json:
    trigger = c.get("/?late=1")
    # Several worker processes each run their own lifespan: read from the one that was asked.
    after: Optional[Json] = None
    for _ in range(12):
        after = c.get("/")
        if after["pid"] == trigger["pid"]:
            break
    return {"trigger": trigger, "after": after}


def _step_s11_h1(c: Session, threads: int = 25, per_thread: int = 2) -> List[Json]:
    results: List[Json] = []
    errors: List[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            with c.connect() as conn:
                for n in range(per_thread):
                    view = ok_json(conn.get(f"/?write={_REQ}c{index}-{n}&sleep=0.1"))
                    view["_own"] = f"{_REQ}c{index}-{n}"
                    with lock:
                        results.append(view)
        except Exception as exc:
            with lock:
                errors.append(_fmt(exc))

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(c.timeout * per_thread + 5)
    if errors:
        raise RuntimeError(f"{len(errors)} of {threads} connections failed, e.g. {errors[0]}")
    if len(results) != threads * per_thread:
        raise RuntimeError(f"only {len(results)} of {threads * per_thread} requests answered in time")
    return results


def _step_sequence(c: Session, transport: Transport) -> Json:
    """S5 over another transport: write + replace, then two plain requests, one connection."""
    assert transport.sequence is not None
    key = f"{_REQ}s5-{transport.name}"
    return {"views": transport.sequence(c, [f"/?write={key}&replace=1", "/", "/"]), "key": key}


def _step_concurrent(c: Session, transport: Transport, streams: int = 20) -> List[Json]:
    assert transport.concurrent is not None
    owns = [f"{_REQ}{transport.name}-{i}" for i in range(streams)]
    views = transport.concurrent(c, [f"/?write={own}&sleep=0.1" for own in owns])
    for view, own in zip(views, owns):
        view["_own"] = own
    return views


def _step_websocket(c: Session, transport: Transport) -> Json:
    assert transport.websocket is not None
    key = f"{_REQ}s6-{transport.name}"
    result = dict(transport.websocket(c, key))
    result["key"] = key
    result["fresh_http"] = c.get("/")
    return result


def _extra(transports: Set[str], kind: str) -> List[Transport]:
    """Registered transports of this configuration that can do ``kind``, client importable."""
    found = []
    for name in sorted(transports):
        transport = TRANSPORTS.get(name)
        if transport is not None and getattr(transport, kind) is not None and transport.available():
            found.append(transport)
    return found


# -- evaluation helpers ---------------------------------------------------------------------------

def _r(check: str, status: str, detail: str) -> CheckResult:
    return CheckResult(check, status, detail)


def _state_problem(view: Json) -> Optional[str]:
    """Why ``view``'s scope has no usable state, or None."""
    if not view.get("has_state"):
        return f"the {view.get('type')} scope has no 'state'"
    if view.get("state_type") != "dict":
        return f"the {view.get('type')} scope's state is a {view.get('state_type')}, not a dict"
    return None


def _identity_problem(view: Json) -> Optional[str]:
    """Why ``view`` does not hold the lifespan's objects, or None."""
    lifespan = view.get("lifespan")
    missing = [k for k in LIFESPAN_KEYS if k not in (view.get("keys") or [])]
    if missing or not lifespan:
        return f"{view.get('type')} state lacks the lifespan keys {missing or list(LIFESPAN_KEYS)}"
    if view.get("obj_id") != lifespan.get("obj_id") or view.get("items_id") != lifespan.get("items_id"):
        return f"{view.get('type')} state holds other objects than the lifespan stored (identity)"
    return None


def _lifespan_of(view: Json) -> Optional[Json]:
    runs = [r for r in view.get("lifespan_runs") or [] if r.get("pid") == view.get("pid")]
    return runs[-1] if runs else None


# -- the checks ------------------------------------------------------------------------------------

def _s1(run: _Run, lifespan_on: bool) -> CheckResult:
    if not lifespan_on:
        return _r("S1", SKIP, "lifespan is off in this configuration")
    why = run.missing("first")
    if why:
        return _r("S1", FAIL, why)
    record = _lifespan_of(run.steps["first"])
    if record is None:
        return _r("S1", FAIL, "the app never received a lifespan scope")
    if not record["has_state"]:
        return _r("S1", FAIL, "the lifespan scope has no 'state'")
    if record["state_type"] != "dict":
        return _r("S1", FAIL, f"the lifespan scope's state is a {record['state_type']}, not a dict")
    if not record["empty_at_startup"]:
        return _r("S1", FAIL, f"the lifespan state was not empty at startup: {record['keys_at_startup']}")
    return _r("S1", PASS, "lifespan scope state is a dict, empty at startup")


def _s2(run: _Run, lifespan_on: bool) -> CheckResult:
    if not lifespan_on:
        return _r("S2", SKIP, "lifespan is off in this configuration")
    why = run.missing("first")
    if why:
        return _r("S2", FAIL, why)
    view = run.steps["first"]
    problem = _state_problem(view) or _identity_problem(view)
    if problem:
        return _r("S2", FAIL, problem)
    return _r("S2", PASS, "http state holds the lifespan's keys and the very same objects")


def _s3(run: _Run, lifespan_on: bool) -> CheckResult:
    why = run.missing("first", "s3")
    if why:
        return _r("S3", FAIL, why)
    first, written, after = run.steps["first"], run.steps["s3"]["written"], run.steps["s3"]["after"]
    for view in (first, written, after):
        problem = _state_problem(view)
        if problem:
            return _r("S3", FAIL, problem)
    if first["is_lifespan_dict"] or after["is_lifespan_dict"]:
        return _r("S3", FAIL, "the request's state IS the lifespan dict")
    key = f"{_REQ}s3"
    if key in (after["keys"] or []):
        return _r("S3", FAIL, f"a key one request added ({key}) was seen by a later request")
    if not lifespan_on:
        return _r("S3", PASS, "each request's state is its own dict; a request's writes stay in it")
    if key in (after["lifespan_keys_now"] or []):
        return _r("S3", FAIL, f"a key a request added ({key}) appeared in the lifespan dict")
    lifespan = after.get("lifespan") or {}
    if after["obj_id"] != lifespan.get("obj_id") or after["lifespan_obj_id_now"] != lifespan.get("obj_id"):
        return _r("S3", FAIL, "a request replacing 'obj' replaced it for the lifespan or later requests")
    return _r("S3", PASS, "request state is a copy: added and replaced keys stay in that request")


def _s4(run: _Run, lifespan_on: bool) -> CheckResult:
    if not lifespan_on:
        return _r("S4", SKIP, "lifespan is off in this configuration")
    why = run.missing("s4")
    if why:
        return _r("S4", FAIL, why)
    appended, after = run.steps["s4"]["appended"], run.steps["s4"]["after"]
    problem = _state_problem(after) or _identity_problem(after)
    if problem:
        return _r("S4", FAIL, problem)
    if "v-s4" not in (after.get("items") or []):
        seen = after.get("items")
        return _r("S4", FAIL, f"a value appended to the lifespan's list was not seen later: {seen}")
    if not appended.get("acted", {}).get("appended"):
        return _r("S4", FAIL, "the request could not append to the lifespan's list")
    return _r("S4", PASS, "a value appended to the lifespan's list is seen by later requests")


def _s5_views(views: List[Json], key: str, lifespan_on: bool, what: str) -> Optional[str]:
    ports = {v.get("client_port") for v in views}
    if len(ports) != 1:
        listed = sorted(map(str, ports))
        return f"{what}: the server saw {len(ports)} connections, not one (client ports {listed})"
    for n, view in enumerate(views):
        problem = _state_problem(view)
        if problem:
            return f"{what}: {problem}"
        if n and key in (view.get("keys") or []):
            return f"{what}: request {n + 1} on one connection saw the key request 1 wrote ({key})"
        if n and lifespan_on:
            lifespan = view.get("lifespan") or {}
            if view.get("obj_id") != lifespan.get("obj_id"):
                return f"{what}: request {n + 1} on one connection saw the 'obj' request 1 replaced"
    return None


def _s5(run: _Run, lifespan_on: bool, transports: Set[str]) -> CheckResult:
    checked: List[str] = []
    problems: List[str] = []
    why = run.missing("keepalive")
    problem = why or _s5_views(run.steps["keepalive"]["views"], f"{_REQ}s5", lifespan_on,
                               "HTTP/1.1 keep-alive")
    if problem:
        problems.append(problem)
    checked.append("3 requests on one HTTP/1.1 keep-alive connection")
    for transport in _extra(transports, "sequence"):
        step = f"sequence:{transport.name}"
        why = run.missing(step)
        problem = (f"{transport.label}: {why}" if why else None) or _s5_views(
            run.steps[step]["views"], run.steps[step]["key"], lifespan_on, transport.label)
        if problem:
            problems.append(problem)
        checked.append(f"3 requests on one {transport.label} connection")
    if problems:
        return _r("S5", FAIL, "; ".join(problems))
    return _r("S5", PASS, "each request has its own copy: " + "; ".join(checked))


def _s6(run: _Run, lifespan_on: bool, transports: Set[str]) -> CheckResult:
    if "ws" not in transports:
        # Only WebSockets over HTTP/1.1 are built in; others come with a registered transport.
        return _r("S6", SKIP, "no WebSocket protocol in this configuration")
    why = run.missing("ws")
    if why:
        return _r("S6", FAIL, why)
    obs = run.steps["ws"]
    first, written, fresh_ws, fresh_http = obs["first"], obs["written"], obs["fresh_ws"], obs["fresh_http"]
    for view in (first, fresh_ws):
        problem = _state_problem(view)
        if problem:
            return _r("S6", FAIL, problem)
    if first["is_lifespan_dict"]:
        return _r("S6", FAIL, "the websocket scope's state IS the lifespan dict")
    if f"{_REQ}s6-http" in (first["keys"] or []):
        return _r("S6", FAIL, "a websocket after an HTTP request on the same socket saw that request's key")
    if lifespan_on:
        problem = _identity_problem(first)
        if problem:
            return _r("S6", FAIL, problem)
    if f"{_REQ}s6-ws" not in (written.get("keys") or []):
        return _r("S6", FAIL, "a key written in the websocket's state was not kept for that websocket")
    for view, what in ((fresh_ws, "a later websocket"), (fresh_http, "a later HTTP request")):
        if f"{_REQ}s6-ws" in (view.get("keys") or []):
            return _r("S6", FAIL, f"{what} saw the key a websocket wrote")
    checked = ["over HTTP/1.1, also after HTTP on the same socket"]
    for transport in _extra(transports, "websocket"):
        step = f"websocket:{transport.name}"
        why = run.missing(step)
        if why:
            return _r("S6", FAIL, f"{transport.label}: {why}")
        obs = run.steps[step]
        problem = _state_problem(obs["first"]) or (
            _identity_problem(obs["first"]) if lifespan_on else None)
        if problem:
            return _r("S6", FAIL, f"{transport.label}: {problem}")
        if obs["first"].get("is_lifespan_dict"):
            return _r("S6", FAIL, f"{transport.label}: the websocket scope's state IS the lifespan dict")
        if obs["key"] not in (obs["written"].get("keys") or []):
            return _r("S6", FAIL, f"{transport.label}: the websocket did not keep the key it wrote")
        if obs["key"] in (obs["fresh_http"].get("keys") or []):
            return _r("S6", FAIL, f"{transport.label}: a later HTTP request saw the key a websocket wrote")
        checked.append(f"over {transport.label}")
    return _r("S6", PASS, "websocket scopes get their own copy: " + "; ".join(checked))


def _s7(run: _Run, lifespan_on: bool) -> CheckResult:
    if not lifespan_on:
        return _r("S7", SKIP, "lifespan is off in this configuration")
    why = run.missing("first", "s7")
    if why:
        return _r("S7", FAIL, why)
    first, trigger, after = run.steps["first"], run.steps["s7"]["trigger"], run.steps["s7"]["after"]
    problem = _state_problem(trigger)
    if problem:
        return _r("S7", FAIL, problem)
    if "late" in (first.get("keys") or []):
        return _r("S7", FAIL, "'late' was present before the lifespan added it")
    if not trigger.get("acted", {}).get("late_written"):
        return _r("S7", FAIL, "the lifespan's background task did not add 'late' (lifespan dict unreachable)")
    if after is None or after.get("pid") != trigger.get("pid"):
        return _r("S7", FAIL, "could not reach the worker whose lifespan added the key")
    if "late" not in (after.get("keys") or []):
        return _r("S7", FAIL, "a key the lifespan added after startup was not seen by a later request "
                              "(requests get a snapshot, not the live dict)")
    return _r("S7", PASS, "a key the lifespan added after startup is seen by later requests")


def _s8(runs: Dict[str, _Run]) -> CheckResult:
    if not runs:
        return _r("S8", SKIP, "no run without lifespan possible here")
    seen = []
    for label, run in runs.items():
        why = run.missing("s8")
        if why:
            return _r("S8", FAIL, f"{label}: {why}")
        views = run.steps["s8"]
        for view in views:
            problem = _state_problem(view)
            if problem:
                return _r("S8", FAIL, f"{label}: {problem}")
        before, _, after = views
        if before["keys"] or after["keys"]:
            return _r("S8", FAIL, f"{label}: request state not empty: {before['keys']} / {after['keys']}")
        seen.append(label)
    return _r("S8", PASS, f"every request gets an empty dict ({'; '.join(seen)})")


def _s9(result: Optional[Json], error: str, lifespan_on: bool) -> CheckResult:
    if error:
        return _r("S9", FAIL, error)
    if result is None:
        return _r("S9", SKIP, "no in-process driver for this server")
    if result.get("error"):
        return _r("S9", FAIL, f"driver: {result['error']}")
    seq, par = result["sequential"], result["concurrent"]
    for view in [*seq, *par]:
        problem = _state_problem(view)
        if problem:
            return _r("S9", FAIL, problem)
    first, second = seq
    if f"{_REQ}s9-a" in (second.get("keys") or []):
        return _r("S9", FAIL, "a second run with the same config saw a key written in the first run")
    one, two = par
    if f"{_REQ}s9-x" in (two.get("keys") or []) or f"{_REQ}s9-y" in (one.get("keys") or []):
        return _r("S9", FAIL, "two servers in one process saw each other's keys")
    if not lifespan_on:
        return _r("S9", PASS, "lifespan off: runs and servers in one process never share request state")
    if second.get("run") == first.get("run"):
        return _r("S9", FAIL, "a second run with the same config got the first run's lifespan state")
    lifespan = second.get("lifespan") or {}
    if not lifespan.get("empty_at_startup"):
        return _r("S9", FAIL, "the second run's lifespan state was not empty at startup")
    if one.get("run") == two.get("run") or one.get("obj_id") == two.get("obj_id"):
        return _r("S9", FAIL, "two servers in one process share one lifespan state")
    for view in (second, one, two):
        problem = _identity_problem(view)
        if problem:
            return _r("S9", FAIL, problem)
    return _r("S9", PASS, "a second run starts empty; two servers in one process stay apart")


def _s10(run: _Run, lifespan_on: bool) -> CheckResult:
    if not lifespan_on:
        return _r("S10", SKIP, "lifespan is off in this configuration")
    why = run.missing("first")
    if why:
        return _r("S10", FAIL, why)
    pid = run.steps["first"]["pid"]
    lines = [line for line in run.shutdown if line.get("pid") == pid]
    if not lines or "shutdown" not in lines[-1]:
        return _r("S10", FAIL, f"the app saw no lifespan.shutdown (server exit status {run.exit_code})")
    record = lines[-1]
    shutdown = record["shutdown"]
    if not shutdown["has_state"] or shutdown["state_id"] is None:
        return _r("S10", FAIL, "the lifespan scope had no state dict at shutdown")
    if not shutdown["same_dict"] or shutdown["state_id"] != record.get("state_id"):
        return _r("S10", FAIL, "at shutdown the lifespan scope held another dict than at startup")
    keys = shutdown["keys"] or []
    missing = [k for k in LIFESPAN_KEYS if k not in keys]
    if missing:
        return _r("S10", FAIL, f"keys stored at startup missing at shutdown: {missing}")
    if _request_keys(keys):
        return _r("S10", FAIL, f"request writes reached the lifespan dict: {_request_keys(keys)}")
    if shutdown["obj_id"] != record.get("obj_id"):
        return _r("S10", FAIL, "the lifespan's 'obj' was replaced by a request")
    late = ", and the key added later" if "late" in keys else ""
    return _r("S10", PASS, f"lifespan.shutdown sees the same dict with its keys{late}")


def _s11(run: _Run, transports: Set[str]) -> CheckResult:
    why = run.missing("s11_h1")
    if why:
        return _r("S11", FAIL, why)
    views: List[Json] = list(run.steps["s11_h1"])
    what = [f"{len(views)} requests on 25 concurrent HTTP/1.1 connections"]
    for transport in _extra(transports, "concurrent"):
        step = f"concurrent:{transport.name}"
        why = run.missing(step)
        if why:
            return _r("S11", FAIL, f"{transport.label}: {why}")
        views += run.steps[step]
        what.append(f"{len(run.steps[step])} concurrent requests on one {transport.label} connection")
    for view in views:
        problem = _state_problem(view)
        if problem:
            return _r("S11", FAIL, problem)
        own = view["_own"]
        foreign = [k for k in _request_keys(view["keys"]) if k != own]
        if foreign:
            return _r("S11", FAIL, f"a request saw keys other requests wrote: {foreign[:3]}")
        if own not in view["keys"]:
            return _r("S11", FAIL, "a request lost the key it wrote itself")
    return _r("S11", PASS, "no request saw another's key: " + "; ".join(what))


def _s12(run: _Run, server: str, shim_on: bool) -> CheckResult:
    if not shim_on:
        return _r("S12", SKIP, "shim off")
    why = run.missing("s12")
    if why:
        return _r("S12", FAIL, why)
    acted = run.steps["s12"].get("acted", {})
    status = (acted.get("status") or {}).get(server)
    if status is None:
        return _r("S12", FAIL, "the shim was not loaded in the server process")
    if status.get("mode") != "native":
        return _r("S12", SKIP, f"mode {status.get('mode')}: this release needs the shim's wrappers")
    if status.get("patched"):
        return _r("S12", FAIL, f"native release, yet wrapped: {status['patched']}")
    if acted.get("state_apps"):
        return _r("S12", FAIL, f"native release, yet {acted['state_apps']} StateApp objects are alive")
    return _r("S12", PASS, "native release: nothing wrapped, no StateApp in the server process")


# -- running a configuration -----------------------------------------------------------------------

def _env(shim_on: bool, report: Optional[str] = None, lifespan_raise: bool = False) -> Dict[str, str]:
    env = dict(os.environ)
    env["LIFESPAN_STATE_PROBE_SHIM"] = "1" if shim_on else "0"
    # Native means native: a bootstrap on PYTHONPATH (``lifespan-state run``) must stay inert too;
    # and a shim-on run must not be switched off by the caller's environment.
    if shim_on:
        env.pop(DISABLE_ENV, None)
    else:
        env[DISABLE_ENV] = "1"
    env.pop("LIFESPAN_STATE_PROBE_LIFESPAN", None)
    env.pop("LIFESPAN_STATE_PROBE_REPORT", None)
    if report:
        env["LIFESPAN_STATE_PROBE_REPORT"] = report
    if lifespan_raise:
        env["LIFESPAN_STATE_PROBE_LIFESPAN"] = "raise"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _serve(
    builder: ServerBuilder,
    config: Dict[str, str],
    env: Dict[str, str],
    workdir: str,
    timeout: float,
    body: Callable[[_Run, Session, LaunchContext], None],
) -> _Run:
    run = _Run()
    for attempt in range(3):
        ctx = LaunchContext(host=HOST, port=free_port(), workdir=workdir)
        argv = builder.command(config, ctx)
        server = ServerProcess(argv, port=ctx.port, env=env, start_timeout=max(20.0, timeout * 2),
                               stop_timeout=max(10.0, timeout))
        try:
            server.start()
            break
        except ServerStartError as exc:
            # The free port can be taken by another process before the server binds it.
            if attempt < 2 and ("already in use" in exc.output or "Errno 98" in exc.output):
                continue
            run.start_error = f"{exc}: {_last_line(exc.output)}"
            run.log_tail = exc.output[-2000:]
            return run
    try:
        body(run, Session(ctx, timeout), ctx)
    finally:
        run.exit_code = server.stop()
        run.log_tail = server.output[-2000:]
    return run


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


_Body = Callable[[_Run, Session, LaunchContext], None]


def _main_body(transports: Set[str], selected: Set[str], shim_on: bool) -> _Body:
    def body(run: _Run, c: Session, ctx: LaunchContext) -> None:
        run.step("first", lambda: c.get("/"))
        run.step("keepalive", lambda: _step_keepalive(c))
        run.step("s3", lambda: _step_s3(c))
        run.step("s4", lambda: _step_s4(c))
        if "ws" in transports and "S6" in selected:
            run.step("ws", lambda: _step_ws(c))
        if "S5" in selected:
            for transport in _extra(transports, "sequence"):
                run.step(f"sequence:{transport.name}", partial(_step_sequence, c, transport))
        if "S6" in selected:
            for transport in _extra(transports, "websocket"):
                run.step(f"websocket:{transport.name}", partial(_step_websocket, c, transport))
        if "S7" in selected or "S10" in selected:
            run.step("s7", lambda: _step_s7(c))
        if "S11" in selected:
            run.step("s11_h1", lambda: _step_s11_h1(c))
            for transport in _extra(transports, "concurrent"):
                run.step(f"concurrent:{transport.name}", partial(_step_concurrent, c, transport))
        if shim_on:
            run.step("s12", lambda: c.get("/?status=1"))

    return body


def _s8_body(run: _Run, c: Session, ctx: LaunchContext) -> None:
    def views() -> List[Json]:
        with c.connect() as conn:
            return [ok_json(conn.get("/")), ok_json(conn.get(f"/?write={_REQ}s8")),
                    ok_json(conn.get("/"))]

    run.step("s8", views)


def _read_report(path: str) -> List[Json]:
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return []


def _run_driver(builder: ServerBuilder, config: Dict[str, str], shim_on: bool, timeout: float) -> Json:
    assert builder.driver is not None
    argv = [sys.executable, "-m", builder.driver, builder.name, json.dumps(config), str(timeout)]
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(shim_on),
                          timeout=timeout * 6 + 30, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"driver exited {done.returncode}: {_last_line(done.stderr)}")
    data: Json = json.loads(lines[-1])
    return data


def check_configuration(
    builder: ServerBuilder,
    capabilities: Capabilities,
    config: Dict[str, str],
    shim_on: bool,
    *,
    checks: Optional[Sequence[str]] = None,
    timeout: float = 10.0,
    progress: Progress = _silent,
) -> ResultRecord:
    """Run the selected checks (default: all) on one configuration; one :class:`ResultRecord`."""
    selected = set(checks or CHECKS)
    label = f"{builder.name} {capabilities.version} shim {'on' if shim_on else 'off'}"
    workdir = tempfile.mkdtemp(prefix="lifespan-state-check-")
    try:
        lifespan_on = config.get("lifespan", "auto") != "off"
        probe_ctx = LaunchContext(host=HOST, port=0, workdir=workdir)
        builder.command(config, probe_ctx)  # let argv callables fill ctx.extras (e.g. TLS)
        transports = builder.transports(config, probe_ctx)
        report = os.path.join(workdir, "shutdown.jsonl")

        progress(f"{label}: main run")
        main = _serve(builder, config, _env(shim_on, report), workdir, timeout,
                      _main_body(transports, selected, shim_on))
        main.shutdown = _read_report(report)

        s8_runs: Dict[str, _Run] = {}
        if "S8" in selected:
            if not lifespan_on:
                # The configuration itself has no lifespan: one more run of it is the S8 run.
                progress(f"{label}: S8 run")
                s8_runs["lifespan off"] = _serve(builder, config, _env(shim_on), workdir, timeout,
                                                 _s8_body)
            else:
                if builder.lifespan_off is not None:
                    progress(f"{label}: S8 run with lifespan off")
                    s8_runs["lifespan off"] = _serve(builder, {**config, **builder.lifespan_off},
                                                     _env(shim_on), workdir, timeout, _s8_body)
                progress(f"{label}: S8 run with an app raising on lifespan")
                s8_runs["app raises on lifespan"] = _serve(
                    builder, {**config, **builder.lifespan_raise}, _env(shim_on, lifespan_raise=True),
                    workdir, timeout, _s8_body)

        s9: Optional[Json] = None
        s9_error = ""
        if "S9" in selected and builder.driver is not None:
            progress(f"{label}: S9 in-process servers")
            try:
                s9 = _run_driver(builder, config, shim_on, timeout)
            except Exception as exc:
                s9_error = _fmt(exc)

        results = {
            "S1": lambda: _s1(main, lifespan_on),
            "S2": lambda: _s2(main, lifespan_on),
            "S3": lambda: _s3(main, lifespan_on),
            "S4": lambda: _s4(main, lifespan_on),
            "S5": lambda: _s5(main, lifespan_on, transports),
            "S6": lambda: _s6(main, lifespan_on, transports),
            "S7": lambda: _s7(main, lifespan_on),
            "S8": lambda: _s8(s8_runs),
            "S9": lambda: _s9(s9, s9_error, lifespan_on),
            "S10": lambda: _s10(main, lifespan_on),
            "S11": lambda: _s11(main, transports),
            "S12": lambda: _s12(main, builder.name, shim_on),
        }
        record = ResultRecord(
            server=builder.name,
            server_version=capabilities.version,
            config=dict(config),
            shim="on" if shim_on else "off",
            mode=_mode(main, builder.name) if shim_on else None,
        )
        for check_id in CHECKS:
            if check_id in selected:
                try:
                    record.checks.append(results[check_id]())
                except Exception as exc:  # an observation of a shape we did not expect
                    record.checks.append(_r(check_id, FAIL, f"unexpected observation: {_fmt(exc)}"))
        record.log_tail = main.log_tail
        return record
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _mode(run: _Run, server: str) -> Optional[str]:
    status = ((run.steps.get("s12") or {}).get("acted") or {}).get("status") or {}
    mode = (status.get(server) or {}).get("mode")
    return str(mode) if mode is not None else None


def run_checks(
    server: str = "uvicorn",
    *,
    shim: str = "on",
    checks: Optional[Sequence[str]] = None,
    timeout: float = 10.0,
    progress: Progress = _silent,
    **options: Optional[str],
) -> List[ResultRecord]:
    """Check one configuration of ``server`` (options e.g. ``http="h11", lifespan="on"``).

    ``shim``: ``"on"``, ``"off"`` or ``"both"`` (native first). Runs with the interpreter of this
    process, i.e. against the server release installed in this environment.
    """
    load_extensions()
    if server not in BUILDERS:
        raise ValueError(f"unknown server {server!r}; known: {', '.join(BUILDERS)}")
    builder = BUILDERS[server]
    capabilities = builder.available()
    if capabilities.error:
        raise RuntimeError(capabilities.error)
    config = builder.config(capabilities, **options)
    shims = {"on": [True], "off": [False], "both": [False, True]}[shim]
    return [
        check_configuration(builder, capabilities, config, on, checks=checks, timeout=timeout,
                            progress=progress)
        for on in shims
    ]
