"""The one engine: checks S1-S12 of docs/CONFORMANCE.md against a real server process.

One *configuration* (a recipe, its options, TLS or not, shim on or off) is checked by a few runs:
the main run (every transport the server speaks carries the requests S1-S7 and S11-S12 judge; its
graceful stop makes the probe report what ``lifespan.shutdown`` saw, S10), the S8 runs (lifespan
off where the server can, an app raising on the lifespan scope) and the S9 driver (``_driver``).

Every check is one entry of :data:`CHECK_TABLE` (registered with ``@_check``), judged from the
observations the same way whatever the transport; a check fails with what was observed, and is
``skip`` (``n/a`` in the table) only where it cannot apply, saying why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .._registry import DISABLE_ENV
from ._recipes import RECIPES, Capabilities, ConfigError, LaunchContext, Recipe
from ._records import CHECKS, FAIL, PASS, SKIP, CheckResult, ResultRecord
from ._runner import HOST, ServerProcess, ServerStartError, free_port, json_line, last_line
from ._transports import TRANSPORTS, NotApplicable, Session, Transport

__all__ = ["CHECK_TABLE", "SHIMS", "Progress", "check_configuration", "run_checks", "shim_supports"]

Progress = Callable[[str], None]
Json = Dict[str, Any]

#: Keys the probe's lifespan stores at startup.
LIFESPAN_KEYS = ("items", "obj", "run")
#: Prefix of every key a request writes (so that leaks are easy to spot in any dict).
_REQ = "req-"
#: Transports whose WebSocket step runs last: closing it can end the connection (hypercorn).
_LAST = ("ws-h2",)


def _silent(_: str) -> None:
    pass


def _fmt(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _request_keys(keys: Optional[Iterable[str]]) -> List[str]:
    return sorted(k for k in (keys or ()) if k.startswith(_REQ))


def shim_supports(server: str) -> bool:
    """Does the shim have a module for ``server`` (a row of ``_versions.SUPPORTED``)?"""
    from .._versions import SUPPORTED

    return server in SUPPORTED


@dataclass
class _Run:
    """Observations of one server run, step by step."""

    steps: Dict[str, Any] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)
    not_applicable: Dict[str, str] = field(default_factory=dict)
    start_error: str = ""
    exit_code: Optional[int] = None
    log_tail: str = ""
    shutdown: List[Json] = field(default_factory=list)

    def step(self, name: str, action: Callable[[], Any]) -> None:
        """Observe ``action()`` as step ``name`` (its exception, if any, is the observation)."""
        if self.start_error:
            return
        try:
            self.steps[name] = action()
        except NotApplicable as exc:
            self.not_applicable[name] = str(exc)
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


@dataclass
class _Plan:
    """What one configuration runs: its transports (client importable) and what is left out."""

    recipe: Recipe
    config: Dict[str, str]
    tls: bool
    shim_on: bool
    selected: Sequence[str]
    transports: List[Transport]
    #: transport label -> why it is not checked here (no client library).
    left_out: Dict[str, str]

    @property
    def lifespan_on(self) -> bool:
        return self.config.get("lifespan", "auto") != "off"

    def able(self, kind: str) -> List[Tuple[Transport, Callable[..., Any]]]:
        """The transports that can do ``kind`` (a :class:`Transport` field), each with that callable."""
        return [(t, getattr(t, kind)) for t in self.transports if getattr(t, kind) is not None]


def _plan(recipe: Recipe, config: Dict[str, str], tls: bool, shim_on: bool,
          selected: Sequence[str]) -> _Plan:
    names = recipe.uses(config, tls)
    unknown = sorted(names - set(TRANSPORTS))
    if unknown:
        raise ConfigError(f"unknown transport {unknown[0]!r} (known: {', '.join(TRANSPORTS)})")
    used, left_out = [], {}
    for transport in (t for t in TRANSPORTS.values() if t.name in names):  # the registry's order
        if transport.tls and not tls:
            left_out[transport.label] = "needs TLS (--tls)"
        elif transport.available():
            used.append(transport)
        else:
            left_out[transport.label] = (f"needs {', '.join(transport.needs)}: "
                                         "pip install 'lifespan-state-shim[check]'")
    return _Plan(recipe, config, tls, shim_on, selected, used, left_out)


# -- steps of the main run -------------------------------------------------------------------------

def _s5_targets(transport: Transport) -> Tuple[str, List[str]]:
    key = f"{_REQ}s5" if transport.name == "h1" else f"{_REQ}s5-{transport.name}"
    return key, [f"/?write={key}&replace=1", "/", "/"]


def _step_s7(c: Session) -> Json:
    trigger = c.get("/?late=1")
    # Several worker processes each run their own lifespan: read from the one that was asked.
    after: Optional[Json] = None
    for _ in range(12):
        after = c.get("/")
        if after["pid"] == trigger["pid"]:
            break
    return {"trigger": trigger, "after": after}


def _concurrent(c: Session, name: str, concurrent: Callable[[Session, List[str]], List[Json]]) -> List[Json]:
    owns = [f"{_REQ}{name}-{i}" for i in range(50 if name == "h1" else 20)]
    views = concurrent(c, [f"/?write={own}&sleep=0.1" for own in owns])
    for view, own in zip(views, owns):
        view["_own"] = own
    return views


def _websocket(c: Session, name: str, websocket: Callable[[Session, str], Json]) -> Json:
    key = f"{_REQ}s6-{name}"
    result = dict(websocket(c, key))
    result["key"] = key
    result["fresh_http"] = c.get("/")
    return result


def _main_body(plan: _Plan) -> Callable[[_Run, Session], None]:
    """The main run's steps, over every transport of ``plan`` that can carry each."""
    selected = plan.selected

    def body(run: _Run, c: Session) -> None:
        run.step("first", lambda: c.get("/"))
        for t, sequence in plan.able("sequence"):
            run.step(f"s5:{t.name}", partial(sequence, c, _s5_targets(t)[1]))
        run.step("s3", lambda: {"written": c.get(f"/?write={_REQ}s3&replace=1"), "after": c.get("/")})
        run.step("s4", lambda: {"appended": c.get("/?append=v-s4"), "after": c.get("/")})
        sockets = [(t.name, socket) for t, socket in plan.able("websocket") if "S6" in selected]
        for name, socket in [s for s in sockets if s[0] not in _LAST]:
            run.step(f"s6:{name}", partial(_websocket, c, name, socket))
        if "S7" in selected or "S10" in selected:
            run.step("s7", lambda: _step_s7(c))
            for t, sequence in plan.able("sequence"):
                if t.name != "h1":
                    run.step(f"s7:{t.name}", partial(sequence, c, ["/"]))
        if "S11" in selected:
            for t, concurrent in plan.able("concurrent"):
                run.step(f"s11:{t.name}", partial(_concurrent, c, t.name, concurrent))
        for name, socket in [s for s in sockets if s[0] in _LAST]:
            run.step(f"s6:{name}", partial(_websocket, c, name, socket))
        if plan.shim_on:
            run.step("s12", lambda: c.get("/?status=1"))

    return body


def _s8_body(run: _Run, c: Session) -> None:
    run.step("s8", lambda: TRANSPORTS["h1"].sequence(c, ["/", f"/?write={_REQ}s8", "/"]))  # type: ignore[misc]


# -- what the checks look at --------------------------------------------------------------------

@dataclass
class _Obs:
    """Everything one configuration's runs observed; what each check judges."""

    plan: _Plan
    main: _Run
    s8: Dict[str, _Run]
    #: The S9 driver's line (``{"error": why}`` when it could not run); None: no driver.
    s9: Optional[Json]

    def record(self, server: str, version: Optional[str], config: Dict[str, str]) -> ResultRecord:
        """The :class:`ResultRecord` of the selected checks, judged from these observations."""
        plan = self.plan
        return ResultRecord(server, version, config, "on" if plan.shim_on else "off",
                            _mode(self.main, server) if plan.shim_on else None,
                            [_judge(c, self) for c in CHECKS if c in plan.selected], self.main.log_tail)


class _Fail(Exception):
    pass


class _Skip(Exception):
    pass


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


def _require(*problems: Optional[str]) -> None:
    for problem in problems:
        if problem:
            raise _Fail(problem)


def _lifespan_of(view: Json) -> Optional[Json]:
    runs = [r for r in view.get("lifespan_runs") or [] if r.get("pid") == view.get("pid")]
    return runs[-1] if runs else None


_Judge = Callable[[_Obs], str]
#: check id -> (its judge: the pass detail, or _Fail/_Skip; the main run's steps it needs (it fails
#: with why one is missing); n/a when the configuration runs no lifespan?).
CHECK_TABLE: Dict[str, Tuple[_Judge, Tuple[str, ...], bool]] = {}


def _check(check_id: str, *steps: str, lifespan: bool = False) -> Callable[[_Judge], _Judge]:
    def register(judge: _Judge) -> _Judge:
        CHECK_TABLE[check_id] = (judge, steps, lifespan)
        return judge

    return register


def _per_transport(obs: _Obs, kind: str, check: str,
                   judge: Callable[[Transport, str], Optional[str]], what: Callable[[Transport], str],
                   skip_h1: bool = False, none: str = "no transport of this server can run it") -> str:
    """Judge the step ``check:<transport>`` of every transport that can do ``kind``."""
    checked, problems, na = [], [], []
    for t, _ in obs.plan.able(kind):
        if skip_h1 and t.name == "h1":
            continue
        step = f"{check}:{t.name}"
        if step in obs.main.not_applicable:
            na.append(f"not over {t.label}: {obs.main.not_applicable[step]}")
            continue
        why = obs.main.missing(step)
        problem = f"{t.label}: {why}" if why else judge(t, step)
        if problem:
            problems.append(problem if problem.startswith(t.label) else f"{t.label}: {problem}")
        checked.append(what(t))
    if problems:
        raise _Fail("; ".join(problems))
    notes = na + [f"not over {label}: {why}" for label, why in obs.plan.left_out.items()]
    if not checked:
        raise _Skip("; ".join(notes) or none)
    return "; ".join(checked + notes)


@_check("S1", "first", lifespan=True)
def _s1(obs: _Obs) -> str:
    record = _lifespan_of(obs.main.steps["first"])
    if record is None:
        lacks = f" ({obs.plan.recipe.lacks})" if obs.plan.recipe.lacks else ""
        raise _Fail(f"the app never received a lifespan scope{lacks}")
    _require(_state_problem({**record, "type": "lifespan"}))
    if not record["empty_at_startup"]:
        raise _Fail(f"the lifespan state was not empty at startup: {record['keys_at_startup']}")
    return "lifespan scope state is a dict, empty at startup"


@_check("S2", "first", lifespan=True)
def _s2(obs: _Obs) -> str:
    view = obs.main.steps["first"]
    _require(_state_problem(view), _identity_problem(view))
    return "http state holds the lifespan's keys and the very same objects"


@_check("S3", "first", "s3")
def _s3(obs: _Obs) -> str:
    run = obs.main
    first, written, after = run.steps["first"], run.steps["s3"]["written"], run.steps["s3"]["after"]
    _require(*(_state_problem(v) for v in (first, written, after)))
    if first["is_lifespan_dict"] or after["is_lifespan_dict"]:
        raise _Fail("the request's state IS the lifespan dict")
    key = f"{_REQ}s3"
    if key in (after["keys"] or []):
        raise _Fail(f"a key one request added ({key}) was seen by a later request")
    if not obs.plan.lifespan_on:
        return "each request's state is its own dict; a request's writes stay in it"
    if key in (after["lifespan_keys_now"] or []):
        raise _Fail(f"a key a request added ({key}) appeared in the lifespan dict")
    lifespan = after.get("lifespan") or {}
    if after["obj_id"] != lifespan.get("obj_id") or after["lifespan_obj_id_now"] != lifespan.get("obj_id"):
        raise _Fail("a request replacing 'obj' replaced it for the lifespan or later requests")
    return "request state is a copy: added and replaced keys stay in that request"


@_check("S4", "s4", lifespan=True)
def _s4(obs: _Obs) -> str:
    appended, after = obs.main.steps["s4"]["appended"], obs.main.steps["s4"]["after"]
    _require(_state_problem(after), _identity_problem(after))
    if "v-s4" not in (after.get("items") or []):
        raise _Fail(f"a value appended to the lifespan's list was not seen later: {after.get('items')}")
    if not appended.get("acted", {}).get("appended"):
        raise _Fail("the request could not append to the lifespan's list")
    return "a value appended to the lifespan's list is seen by later requests"


def _s5_views(views: List[Json], key: str, lifespan_on: bool) -> Optional[str]:
    ports = {v.get("client_port") for v in views}
    if len(ports) != 1:
        listed = sorted(map(str, ports))
        return f"the server saw {len(ports)} connections, not one (client ports {listed})"
    for n, view in enumerate(views):
        problem = _state_problem(view)
        if problem:
            return problem
        if n and key in (view.get("keys") or []):
            return f"request {n + 1} on one connection saw the key request 1 wrote ({key})"
        if n and lifespan_on:
            lifespan = view.get("lifespan") or {}
            if view.get("obj_id") != lifespan.get("obj_id"):
                return f"request {n + 1} on one connection saw the 'obj' request 1 replaced"
    return None


@_check("S5")
def _s5(obs: _Obs) -> str:
    def judge(t: Transport, step: str) -> Optional[str]:
        return _s5_views(obs.main.steps[step], _s5_targets(t)[0], obs.plan.lifespan_on)

    done = _per_transport(obs, "sequence", "s5", judge, lambda t: f"3 requests on one {t.label} connection")
    return "each request has its own copy: " + done


@_check("S6")
def _s6(obs: _Obs) -> str:
    def judge(t: Transport, step: str) -> Optional[str]:
        o = obs.main.steps[step]
        first, key = o["first"], o["key"]
        problem = _state_problem(first) or (_identity_problem(first) if obs.plan.lifespan_on else None)
        if problem:
            return problem
        if first.get("is_lifespan_dict"):
            return "the websocket scope's state IS the lifespan dict"
        if f"{key}-http" in (first.get("keys") or []):
            return "a websocket after an HTTP request on the same connection saw that request's key"
        if key not in (o["written"].get("keys") or []):
            return "a key written in the websocket's state was not kept for that websocket"
        for view, what in ((o["after"], "a later connection"), (o["fresh_http"], "a later HTTP request")):
            if key in (view.get("keys") or []):
                return f"{what} saw the key a websocket wrote"
        return None

    done = _per_transport(obs, "websocket", "s6", judge, lambda t: f"over {t.label}, after HTTP on it",
                          none="no WebSocket protocol in this configuration")
    return "websocket scopes get their own copy: " + done


@_check("S7", "first", "s7", lifespan=True)
def _s7(obs: _Obs) -> str:
    run = obs.main
    first, trigger, after = run.steps["first"], run.steps["s7"]["trigger"], run.steps["s7"]["after"]
    _require(_state_problem(trigger))
    if "late" in (first.get("keys") or []):
        raise _Fail("'late' was present before the lifespan added it")
    if not trigger.get("acted", {}).get("late_written"):
        raise _Fail("the lifespan's background task did not add 'late' (lifespan dict unreachable)")
    if after is None or after.get("pid") != trigger.get("pid"):
        raise _Fail("could not reach the worker whose lifespan added the key")
    snapshot = "a key the lifespan added after startup was not seen by a later request " \
               "(requests get a snapshot, not the live dict)"
    if "late" not in (after.get("keys") or []):
        raise _Fail(f"{obs.plan.transports[0].label}: {snapshot}")  # h1, or the harness in its place
    if not [t for t, _ in obs.plan.able("sequence") if t.name != "h1"]:
        return "a key the lifespan added after startup is seen by later requests"

    def judge(t: Transport, step: str) -> Optional[str]:
        view = obs.main.steps[step][0]
        return _state_problem(view) or (None if "late" in (view.get("keys") or []) else snapshot)

    done = _per_transport(obs, "sequence", "s7", judge, lambda t: t.label, skip_h1=True)
    return "a key the lifespan added after startup is seen by later requests: HTTP/1.1; " + done


@_check("S8")
def _s8(obs: _Obs) -> str:
    if not obs.s8:
        raise _Skip("no run without lifespan possible here")
    seen = []
    for label, run in obs.s8.items():
        why = run.missing("s8")
        if why:
            raise _Fail(f"{label}: {why}")
        views = run.steps["s8"]
        for view in views:
            problem = _state_problem(view)
            if problem:
                raise _Fail(f"{label}: {problem}")
        before, _, after = views
        if before["keys"] or after["keys"]:
            raise _Fail(f"{label}: request state not empty: {before['keys']} / {after['keys']}")
        seen.append(label)
    return f"every request gets an empty dict ({'; '.join(seen)})"


@_check("S9")
def _s9(obs: _Obs) -> str:
    result = obs.s9
    if result is None:
        raise _Skip(f"no in-process driver for {obs.plan.recipe.name} (S9 serves two servers in one "
                    "process through the server's Python API)")
    if result.get("error"):
        raise _Fail(f"driver: {result['error']}")
    seq, par = result["sequential"], result["concurrent"]
    _require(*(_state_problem(v) for v in [*seq, *par]))
    first, second = seq
    if f"{_REQ}s9-a" in (second.get("keys") or []):
        raise _Fail("a second run with the same config saw a key written in the first run")
    one, two = par
    if f"{_REQ}s9-x" in (two.get("keys") or []) or f"{_REQ}s9-y" in (one.get("keys") or []):
        raise _Fail("two servers in one process saw each other's keys")
    if not obs.plan.lifespan_on:
        return "lifespan off: runs and servers in one process never share request state"
    if second.get("run") == first.get("run"):
        raise _Fail("a second run with the same config got the first run's lifespan state")
    if not (second.get("lifespan") or {}).get("empty_at_startup"):
        raise _Fail("the second run's lifespan state was not empty at startup")
    if one.get("run") == two.get("run") or one.get("obj_id") == two.get("obj_id"):
        raise _Fail("two servers in one process share one lifespan state")
    _require(*(_identity_problem(v) for v in (second, one, two)))
    return "a second run starts empty; two servers in one process stay apart"


@_check("S10", "first", lifespan=True)
def _s10(obs: _Obs) -> str:
    run = obs.main
    pid = run.steps["first"]["pid"]
    lines = [line for line in run.shutdown if line.get("pid") == pid]
    if not lines or "shutdown" not in lines[-1]:
        raise _Fail(f"the app saw no lifespan.shutdown (server exit status {run.exit_code})")
    record = lines[-1]
    shutdown = record["shutdown"]
    if not shutdown["has_state"] or shutdown["state_id"] is None:
        raise _Fail("the lifespan scope had no state dict at shutdown")
    if not shutdown["same_dict"] or shutdown["state_id"] != record.get("state_id"):
        raise _Fail("at shutdown the lifespan scope held another dict than at startup")
    keys = shutdown["keys"] or []
    missing = [k for k in LIFESPAN_KEYS if k not in keys]
    if missing:
        raise _Fail(f"keys stored at startup missing at shutdown: {missing}")
    leaked = _request_keys(keys)
    if leaked:
        more = f" and {len(leaked) - 3} more" if len(leaked) > 3 else ""
        raise _Fail(f"request writes reached the lifespan dict: {leaked[:3]}{more}")
    if shutdown["obj_id"] != record.get("obj_id"):
        raise _Fail("the lifespan's 'obj' was replaced by a request")
    late = ", and the key added later" if "late" in keys else ""
    return f"lifespan.shutdown sees the same dict with its keys{late}"


@_check("S11")
def _s11(obs: _Obs) -> str:
    def judge(t: Transport, step: str) -> Optional[str]:
        for view in obs.main.steps[step]:
            problem = _state_problem(view)
            if problem:
                return problem
            own = view["_own"]
            foreign = [k for k in _request_keys(view["keys"]) if k != own]
            if foreign:
                return f"a request saw keys other requests wrote: {foreign[:3]}"
            if own not in view["keys"]:
                return "a request lost the key it wrote itself"
        return None

    def what(t: Transport) -> str:
        if t.name == "h1":
            return f"50 requests on 25 concurrent {t.label} connections"
        return f"20 concurrent requests on one {t.label} connection"

    return "no request saw another's key: " + _per_transport(obs, "concurrent", "s11", judge, what)


@_check("S12")
def _s12(obs: _Obs) -> str:
    server = obs.plan.recipe.name
    if not obs.plan.shim_on:
        raise _Skip("shim off")
    _require(obs.main.missing("s12"))
    acted = obs.main.steps["s12"].get("acted", {})
    status = (acted.get("status") or {}).get(server)
    if status is None:
        if not shim_supports(server):
            raise _Skip(f"the shim has no module for {server}")
        raise _Fail("the shim was not loaded in the server process")
    if status.get("mode") != "native":
        raise _Skip(f"mode {status.get('mode')}: this release needs the shim's wrappers")
    if status.get("patched"):
        raise _Fail(f"native release, yet wrapped: {status['patched']}")
    if acted.get("state_apps"):
        raise _Fail(f"native release, yet {acted['state_apps']} StateApp objects are alive")
    return "native release: nothing wrapped, no StateApp in the server process"


def _judge(check_id: str, obs: _Obs) -> CheckResult:
    judge, steps, needs_lifespan = CHECK_TABLE[check_id]
    if needs_lifespan and not obs.plan.lifespan_on:
        return CheckResult(check_id, SKIP, "lifespan is off in this configuration")
    try:
        _require(obs.main.missing(*steps) if steps else None)
        return CheckResult(check_id, PASS, judge(obs))
    except _Fail as exc:
        return CheckResult(check_id, FAIL, str(exc))
    except _Skip as exc:
        return CheckResult(check_id, SKIP, str(exc))
    except Exception as exc:  # an observation of a shape we did not expect
        return CheckResult(check_id, FAIL, f"unexpected observation: {_fmt(exc)}")


# -- running a configuration -----------------------------------------------------------------------

def _env(shim_on: bool, report: Optional[str] = None, lifespan_raise: bool = False) -> Dict[str, str]:
    # Native means native: a bootstrap on PYTHONPATH (``lifespan-state run``) must stay inert too;
    # and a shim-on run must not be switched off by the caller's environment. The probe's own
    # variables (``_probe``) come from here only.
    env = {k: v for k, v in os.environ.items()
           if k != DISABLE_ENV and not k.startswith("LIFESPAN_STATE_PROBE_")}
    env.update(LIFESPAN_STATE_PROBE_SHIM="1" if shim_on else "0", PYTHONUNBUFFERED="1")
    if not shim_on:
        env[DISABLE_ENV] = "1"
    if report:
        env["LIFESPAN_STATE_PROBE_REPORT"] = report
    if lifespan_raise:
        env["LIFESPAN_STATE_PROBE_LIFESPAN"] = "raise"
    return env


def _serve(plan: _Plan, config: Dict[str, str], env: Dict[str, str], base: LaunchContext,
           timeout: float, body: Callable[[_Run, Session], None]) -> _Run:
    """One server run: start the recipe's command, run ``body`` against it, stop it."""
    run = _Run()
    names = frozenset(t.name for t in plan.transports)
    for attempt in range(3):
        ctx = dataclasses.replace(base, port=free_port())
        try:
            argv = plan.recipe.argv(config, ctx, names, plan.tls)
        except ConfigError as exc:
            run.start_error = str(exc)
            return run
        server = ServerProcess(argv, port=ctx.port, env={**env, **plan.recipe.environ(ctx)},
                               start_timeout=max(20.0, timeout * 2), stop_timeout=max(10.0, timeout),
                               stop_signal=plan.recipe.stop_signal)
        try:
            server.start()
            break
        except ServerStartError as exc:
            # The free port can be taken by another process before the server binds it.
            if attempt < 2 and ("already in use" in exc.output or "Errno 98" in exc.output):
                continue
            run.start_error = f"{exc}: {last_line(exc.output)}"
            run.log_tail = exc.output[-2000:]
            return run
    try:
        body(run, Session(ctx, timeout))
    finally:
        run.exit_code = server.stop()
        run.log_tail = server.output[-2000:]
    return run


def _read_report(path: str) -> List[Json]:
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return []


def _tls_context(workdir: str) -> LaunchContext:
    """A throw-away CA (the clients trust it) and a 127.0.0.1/localhost certificate in ``workdir``."""
    try:
        import trustme
    except ImportError:
        raise ConfigError("TLS runs need trustme for a throw-away certificate: "
                          "pip install 'lifespan-state-shim[check]'") from None
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = LaunchContext(HOST, 0, workdir, certfile=os.path.join(workdir, "server.pem"),
                        keyfile=os.path.join(workdir, "server.key"), ca_file=os.path.join(workdir, "ca.pem"))
    ca.cert_pem.write_to_path(ctx.ca_file)
    for n, pem in enumerate(cert.cert_chain_pems):  # the whole chain, leaf first
        pem.write_to_path(ctx.certfile, append=n > 0)
    cert.private_key_pem.write_to_path(ctx.keyfile)
    return ctx


def check_configuration(
    recipe: Recipe,
    capabilities: Capabilities,
    config: Dict[str, str],
    shim_on: bool,
    *,
    tls: bool = False,
    checks: Optional[Sequence[str]] = None,
    timeout: float = 10.0,
    progress: Progress = _silent,
) -> ResultRecord:
    """Run the selected checks (default: all) on one configuration; one :class:`ResultRecord`."""
    selected = list(checks or CHECKS)
    label = f"{recipe.name} {capabilities.version} shim {'on' if shim_on else 'off'}"
    workdir = tempfile.mkdtemp(prefix="lifespan-state-check-")
    try:
        plan = _plan(recipe, config, tls, shim_on, selected)
        base = _tls_context(workdir) if tls else LaunchContext(HOST, 0, workdir)
        report = os.path.join(workdir, "shutdown.jsonl")

        progress(f"{label}: main run")
        main = _serve(plan, config, _env(shim_on, report), base, timeout, _main_body(plan))
        main.shutdown = _read_report(report)

        s8: Dict[str, _Run] = {}
        # Without lifespan in the configuration itself, one more run of it is the S8 run.
        s8_runs = [("lifespan off", {}, False)] if not plan.lifespan_on else [
            *([("lifespan off", recipe.lifespan_off, False)] if recipe.lifespan_off is not None else []),
            ("app raises on lifespan", recipe.lifespan_raise, True)]
        for name, overrides, raising in s8_runs if "S8" in selected else []:
            progress(f"{label}: S8 run, {name}")
            s8[name] = _serve(plan, {**config, **overrides}, _env(shim_on, lifespan_raise=raising), base,
                              timeout, _s8_body)

        s9: Optional[Json] = None
        if "S9" in selected and recipe.driver:
            progress(f"{label}: S9 in-process servers")
            try:
                args = ["lifespan_state.check._driver", recipe.name, json.dumps(config), str(timeout)]
                s9 = json_line(args, _env(shim_on), timeout * 6 + 30, RuntimeError)
            except Exception as exc:
                s9 = {"error": _fmt(exc)}
        shown = {**config, "tls": "on"} if tls else config
        return _Obs(plan, main, s8, s9).record(recipe.name, capabilities.version, dict(shown))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _mode(run: _Run, server: str) -> Optional[str]:
    status = ((run.steps.get("s12") or {}).get("acted") or {}).get("status") or {}
    mode = (status.get(server) or {}).get("mode")
    return str(mode) if mode is not None else None


#: ``--shim`` -> the runs of a configuration: natively (False) and/or with the shim (True).
SHIMS = {"on": [True], "off": [False], "both": [False, True]}


def run_checks(
    server: Union[str, Recipe] = "uvicorn",
    options: Optional[Mapping[str, Optional[str]]] = None,
    *,
    shim: str = "on",
    checks: Optional[Sequence[str]] = None,
    timeout: float = 10.0,
    tls: bool = False,
    progress: Progress = _silent,
) -> List[ResultRecord]:
    """Check one configuration of ``server`` (a built-in's name or a :class:`Recipe`; options
    e.g. ``{"http": "h11", "lifespan": "on"}``, None: the default) — the ``lifespan-state check`` run.

    ``shim``: ``"on"``, ``"off"`` or ``"both"`` (native first; natively only where the shim has no
    module for the server). Runs with the interpreter of this process, i.e. against the server
    release installed in this environment. A configuration it cannot run raises :class:`ConfigError`.
    """
    if isinstance(server, str) and server not in RECIPES:
        raise ValueError(f"unknown server {server!r}; known: {', '.join(RECIPES)}")
    recipe = RECIPES[server] if isinstance(server, str) else server
    capabilities = recipe.available()
    if capabilities.error:
        raise ConfigError(capabilities.error)
    chosen = dict(options or {})
    if not recipe.custom:
        config = recipe.config(capabilities, **chosen)
    elif any(v is not None for v in chosen.values()):
        raise ConfigError("with --command, put the server's options into the command")
    else:
        config = {"command": recipe.command}
    runs = [False] if shim == "both" and not shim_supports(recipe.name) else SHIMS[shim]
    tls = tls or (recipe.custom and "{certfile}" in recipe.command)
    return [check_configuration(recipe, capabilities, config, on, tls=tls, checks=checks,
                                timeout=timeout, progress=progress) for on in runs]
