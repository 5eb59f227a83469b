"""The checks S1-S13 of docs/CONFORMANCE.md, one :class:`Check` each, in report order (:data:`SPEC`).

A check is its id and title (and the table's shorter label), the requests it makes in the main
run (:class:`Step`, or :class:`EachTransport` for one step per transport that can carry them), the
main-run steps and the fields of the probe's view its judge reads, and the judge: the pass detail
from the :class:`~._observe.Observations`, or :class:`Fail`/:class:`Skip` with what was observed.
Adding a check is one :class:`Check` in :data:`SPEC` plus its row in docs/CONFORMANCE.md; the
engine (``_checks``) and the harness driver make every check's requests and judge every selected
one.

A check fails with what was observed, and is ``skip`` (``n/a`` in the table) only where it cannot
apply, saying why; every judge judges the same way whatever transport carried the requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Literal, Optional, Sequence, Tuple, Union

from ._observe import CHECK_EXTRA, Json, Observations, Plan, Run, describe
from ._records import FAIL, PASS, SKIP, CheckResult
from ._transports import TRANSPORTS, Session, Transport

__all__ = ["CHECKS", "CHECK_TABLE", "LIFESPAN_KEYS", "PROBE_FIELDS", "REACH", "SPEC", "Check",
           "EachTransport", "Fail", "Requests", "Skip", "Step", "judge", "process_of", "reach",
           "selected_checks", "shim_mode", "shim_supports"]

#: Keys the probe's lifespan stores at startup.
LIFESPAN_KEYS = ("items", "obj", "run")
#: Prefix of every key a request writes (so that leaks are easy to spot in any dict).
_REQ = "req-"
#: Transports whose WebSocket step runs last: closing it can end the whole connection.
_LAST = ("ws-h2",)


class Fail(Exception):
    """The check fails; the message is what was observed."""


class Skip(Exception):
    """The check cannot apply here; the message says why."""


def shim_supports(server: str) -> bool:
    """Does the shim act on ``server`` (a row of ``_versions.SUPPORTED``, other distributions'
    integrations included)?"""
    from .._registry import discover

    return server in discover()


# -- the requests of the main run -------------------------------------------------------------------

When = Callable[[Plan], bool]


def _always(plan: Plan) -> bool:
    # Whatever is selected: S10 and S11 look for the writes of S3-S5 wherever they went.
    return True


def _selecting(*ids: str) -> When:
    """Made when one of the checks ``ids`` is selected."""
    return lambda plan: any(i in plan.selected for i in ids)


def _every(transport: Transport) -> bool:
    return True


@dataclass(frozen=True)
class Step:
    """Requests of a run observed as one step, ``name``: ``make(session)`` is the observation."""

    name: str
    #: Its place among every check's requests of the main run (lower first): a step sees what
    #: the earlier ones wrote.
    at: int
    make: Callable[[Session], Any]
    #: Whether a plan makes them (default: every plan).
    when: When = _always

    def actions(self, plan: Plan, session: Session) -> List[Tuple[str, Callable[[], Any]]]:
        return [(self.name, partial(self.make, session))]


@dataclass(frozen=True)
class EachTransport:
    """Requests made over every transport of the run that can do ``kind`` (a :class:`Transport`
    capability: ``sequence``, ``concurrent``, ``websocket``) and ``only`` admits, one step each,
    ``name:<transport>``: ``make(session, transport, its callable for kind)``."""

    name: str
    at: int
    kind: Literal["sequence", "concurrent", "websocket"]
    make: Callable[[Session, Transport, Callable[..., Any]], Any]
    only: Callable[[Transport], bool] = _every
    when: When = _always

    def actions(self, plan: Plan, session: Session) -> List[Tuple[str, Callable[[], Any]]]:
        return [(f"{self.name}:{t.name}", partial(self.make, session, t, call))
                for t, call in plan.able(self.kind) if self.only(t)]


Requests = Union[Step, EachTransport]


@dataclass(frozen=True)
class Check:
    """One check of docs/CONFORMANCE.md; see the module docstring."""

    id: str
    #: As docs/CONFORMANCE.md names it; ``short`` labels the table's row when it is too long.
    title: str
    #: The pass detail, or Fail/Skip.
    judge: Callable[[Observations], str]
    #: Its requests in the main run.
    requests: Tuple[Requests, ...] = ()
    #: Main-run steps (its own or another check's) the judge reads: it fails with why one is missing.
    reads: Tuple[str, ...] = ()
    #: Fields of the probe's views (``_probe._view``) the judge reads.
    fields: FrozenSet[str] = frozenset()
    #: n/a when the configuration runs no lifespan.
    lifespan: bool = False
    #: Its requests in the runs without lifespan (lifespan off, an app raising on it), if any.
    without_lifespan: Tuple[Step, ...] = ()
    #: Judged from the in-process driver's scenarios (``_driver``), which run when it is selected.
    driver: bool = False
    short: str = ""
    #: Its requests once the main run's lifespan has ended, through the same client: a harness
    #: can still be used then (``Observations.after``); a server serves nothing after its shutdown.
    after_run: Tuple[Step, ...] = ()


# -- judging ----------------------------------------------------------------------------------------

#: The view fields the shared problems below read.
_STATE = frozenset({"type", "has_state", "state_type"})
_IDENTITY = frozenset({"type", "keys", "lifespan", "obj_id", "items_id"})


def _request_keys(keys: Optional[Iterable[str]]) -> List[str]:
    return sorted(k for k in (keys or ()) if k.startswith(_REQ))


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
            raise Fail(problem)


def _lifespan_of(view: Json) -> Optional[Json]:
    runs = [r for r in view.get("lifespan_runs") or [] if r.get("pid") == view.get("pid")]
    return runs[-1] if runs else None


#: Fresh connections a step tries to reach the worker process of an earlier request: a server
#: with several worker processes hands each connection to one of them, each with a lifespan of
#: its own, and comparing requests served by two of them would judge nothing.
REACH = 16


def process_of(view: Json) -> Tuple[Any, Any, Any]:
    """Which process and lifespan run served ``view``: the probe's pid and token, the state's run."""
    return view.get("pid"), view.get("token"), view.get("run")


def reach(c: Session, origin: Json, target: str = "/") -> Json:
    """The view of ``target`` on a fresh connection served by the process and lifespan run of
    ``origin``, tried up to :data:`REACH` times; else ``{"unreached": tries, "pids": [the pids
    that answered]}``."""
    pids = set()
    for _ in range(REACH):
        view = c.get(target)
        if process_of(view) == process_of(origin):
            return view
        pids.add(view.get("pid"))
    return {"unreached": REACH, "pids": sorted(pids, key=str)}


def _not_compared(origin: Json, what: str, tries: int, pids: Iterable[Any]) -> Skip:
    pids = list(pids)
    if pids == [origin.get("pid")]:  # one process whose every request is a run of its own
        return Skip(f"none of {tries} later requests reached the lifespan run that {what}: each was "
                    f"served by another run of the same process (pid {origin.get('pid')}; e.g. a "
                    "lifespan per invocation), whose state is another, so none is compared")
    return Skip(f"none of {tries} later connections reached the worker process that {what} (pid "
                f"{origin.get('pid')}; they reached {', '.join(map(str, pids))}): requests served by "
                "another process see another lifespan's state, so none is compared")


def _reached(view: Json, origin: Json, what: str) -> Json:
    """``view`` when :func:`reach` found ``origin``'s process, else Skip: requests of two processes
    see two lifespans' state."""
    if "unreached" in view:
        raise _not_compared(origin, what, view["unreached"], view["pids"])
    return view


def _per_transport(obs: Observations, kind: str, check: str,
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
        try:
            problem = f"{t.label}: {why}" if why else judge(t, step)
        except Skip as exc:  # this transport's requests cannot be compared here
            na.append(f"not over {t.label}: {exc}")
            continue
        if problem:
            problems.append(problem if problem.startswith(t.label) else f"{t.label}: {problem}")
        checked.append(what(t))
    if problems:
        raise Fail("; ".join(problems))
    notes = na + [f"not over {label}: {why}" for label, why in obs.plan.left_out.items()]
    if not checked:
        raise Skip("; ".join(notes) or none)
    return "; ".join(checked + notes)


# -- the checks ------------------------------------------------------------------------------------


def _s1(obs: Observations) -> str:
    record = _lifespan_of(obs.main.steps["first"])
    if record is None:
        lacks = f" ({obs.plan.recipe.launch.lacks})" if obs.plan.recipe.launch.lacks else ""
        raise Fail(f"the app never received a lifespan scope{lacks}")
    _require(_state_problem({**record, "type": "lifespan"}))
    if not record["empty_at_startup"]:
        raise Fail(f"the lifespan state was not empty at startup: {record['keys_at_startup']}")
    return "lifespan scope state is a dict, empty at startup"


S1 = Check("S1", "lifespan scope has state", _s1, short="lifespan has state",
           requests=(Step("first", 0, lambda c: c.get("/")),),
           reads=("first",), fields=frozenset({"lifespan_runs", "pid"}), lifespan=True)


def _s2(obs: Observations) -> str:
    view = obs.main.steps["first"]
    _require(_state_problem(view), _identity_problem(view))
    return "http state holds the lifespan's keys and the very same objects"


S2 = Check("S2", "request sees lifespan keys", _s2, short="request sees keys",
           reads=("first",), fields=_STATE | _IDENTITY, lifespan=True)


def _step_s3(c: Session) -> Json:
    written = c.get(f"/?write={_REQ}s3&replace=1")
    return {"written": written, "after": reach(c, written)}


def _s3(obs: Observations) -> str:
    run = obs.main
    first, written = run.steps["first"], run.steps["s3"]["written"]
    _require(*(_state_problem(v) for v in (first, written)))
    if first["is_lifespan_dict"] or written["is_lifespan_dict"]:
        raise Fail("the request's state IS the lifespan dict")
    key = f"{_REQ}s3"
    lifespan = written.get("lifespan") or {}
    # The writing request's own view of its process's lifespan dict, after the write.
    if obs.plan.lifespan_on and key in (written["lifespan_keys_now"] or []):
        raise Fail(f"a key a request added ({key}) appeared in the lifespan dict")
    if obs.plan.lifespan_on and written["lifespan_obj_id_now"] != lifespan.get("obj_id"):
        raise Fail("a request replacing 'obj' replaced it for the lifespan")
    after = _reached(run.steps["s3"]["after"], written, "wrote the key")
    _require(_state_problem(after))
    if after["is_lifespan_dict"]:
        raise Fail("the request's state IS the lifespan dict")
    if key in (after["keys"] or []):
        raise Fail(f"a key one request added ({key}) was seen by a later request")
    if not obs.plan.lifespan_on:
        return "each request's state is its own dict; a request's writes stay in it"
    if after["obj_id"] != lifespan.get("obj_id"):
        raise Fail("a request replacing 'obj' replaced it for later requests")
    return "request state is a copy: added and replaced keys stay in that request"


S3 = Check("S3", "copy, not the dict", _s3,
           requests=(Step("s3", 20, _step_s3),),
           reads=("first", "s3"),
           fields=_STATE | {"is_lifespan_dict", "keys", "lifespan_keys_now", "lifespan", "obj_id",
                            "lifespan_obj_id_now", "pid"})


def _step_s4(c: Session) -> Json:
    appended = c.get("/?append=v-s4")
    return {"appended": appended, "after": reach(c, appended)}


def _s4(obs: Observations) -> str:
    appended = obs.main.steps["s4"]["appended"]
    _require(_state_problem(appended))
    if not appended.get("acted", {}).get("appended"):
        raise Fail("the request could not append to the lifespan's list")
    after = _reached(obs.main.steps["s4"]["after"], appended, "appended to the list")
    _require(_state_problem(after), _identity_problem(after))
    if "v-s4" not in (after.get("items") or []):
        raise Fail(f"a value appended to the lifespan's list was not seen later: {after.get('items')}")
    return "a value appended to the lifespan's list is seen by later requests"


S4 = Check("S4", "shallow", _s4,
           requests=(Step("s4", 30, _step_s4),),
           reads=("s4",), fields=_STATE | _IDENTITY | {"items", "acted", "pid"}, lifespan=True)


def _s5_targets(transport: Transport) -> Tuple[str, List[str]]:
    key = f"{_REQ}s5" if transport.name == "h1" else f"{_REQ}s5-{transport.name}"
    return key, [f"/?write={key}&replace=1", "/", "/"]


def _s5_sequence(c: Session, t: Transport, sequence: Callable[..., Any]) -> Any:
    return sequence(c, _s5_targets(t)[1])


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


def _s5(obs: Observations) -> str:
    def judge(t: Transport, step: str) -> Optional[str]:
        return _s5_views(obs.main.steps[step], _s5_targets(t)[0], obs.plan.lifespan_on)

    done = _per_transport(obs, "sequence", "s5", judge, lambda t: f"3 requests on one {t.label} connection")
    return "each request has its own copy: " + done


S5 = Check("S5", "per request, not per connection", _s5, short="per request",
           requests=(EachTransport("s5", 10, "sequence", _s5_sequence),),
           fields=_STATE | {"client_port", "keys", "lifespan", "obj_id"})


def _websocket(c: Session, t: Transport, websocket: Callable[[Session, str], Json]) -> Json:
    key = f"{_REQ}s6-{t.name}"
    result = dict(websocket(c, key))
    result["key"] = key
    result["fresh_http"] = reach(c, result["written"])
    return result


def _s6(obs: Observations) -> str:
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
        written = o["written"]
        if key not in (written.get("keys") or []):
            return "a key written in the websocket's state was not kept for that websocket"
        # Only requests the websocket's process served can see what it wrote.
        later = [(view, what) for view, what in ((o["after"], "a later connection"),
                                                 (o["fresh_http"], "a later HTTP request"))
                 if "unreached" not in view and process_of(view) == process_of(written)]
        if not later:  # the later HTTP request is tried until it reaches that process
            _reached(o["fresh_http"], written, "served the websocket")
        for view, what in later:
            if key in (view.get("keys") or []):
                return f"{what} saw the key a websocket wrote"
        return None

    none = "no WebSocket protocol in this configuration"
    if obs.plan.config.get("ws") == "none":
        none += f" (ws=none; where the server finds no WebSocket library, {CHECK_EXTRA} installs wsproto)"
    done = _per_transport(obs, "websocket", "s6", judge, lambda t: f"over {t.label}, after HTTP on it",
                          none=none)
    return "websocket scopes get their own copy: " + done


S6 = Check("S6", "websocket", _s6,
           requests=(EachTransport("s6", 40, "websocket", _websocket, only=lambda t: t.name not in _LAST,
                                   when=_selecting("S6")),
                     EachTransport("s6", 70, "websocket", _websocket, only=lambda t: t.name in _LAST,
                                   when=_selecting("S6"))),
           fields=_STATE | _IDENTITY | {"is_lifespan_dict", "pid", "token", "run"})


def _step_s7(c: Session) -> Json:
    trigger = c.get("/?late=1")
    # Several worker processes each run their own lifespan: read from the one that was asked.
    return {"trigger": trigger, "after": reach(c, trigger)}


def _s7_sequence(c: Session, t: Transport, sequence: Callable[..., Any]) -> List[Json]:
    """Connections of ``t`` until one reaches a process whose lifespan added ``late`` (the one
    the trigger reached); the judge compares only that one's view."""
    views: List[Json] = []
    for _ in range(REACH):
        views.append(sequence(c, ["/"])[0])
        if "late" in (views[-1].get("lifespan_keys_now") or []):
            break
    return views


def _s7(obs: Observations) -> str:
    run = obs.main
    first, trigger, after = run.steps["first"], run.steps["s7"]["trigger"], run.steps["s7"]["after"]
    _require(_state_problem(trigger))
    if "late" in (first.get("keys") or []):
        raise Fail("'late' was present before the lifespan added it")
    if not trigger.get("acted", {}).get("late_written"):
        raise Fail("the lifespan's background task did not add 'late' (lifespan dict unreachable)")
    after = _reached(after, trigger, "had the lifespan add the key")
    snapshot = "a key the lifespan added after startup was not seen by a later request " \
               "(requests get a snapshot, not the live dict)"
    if "late" not in (after.get("keys") or []):
        raise Fail(f"{obs.plan.transports[0].label}: {snapshot}")  # h1, or the harness in its place
    if not [t for t, _ in obs.plan.able("sequence") if t.name != "h1"]:
        return "a key the lifespan added after startup is seen by later requests"

    def judge(t: Transport, step: str) -> Optional[str]:
        views = obs.main.steps[step]
        view = next((v for v in views if process_of(v) == process_of(trigger)), None)
        if view is None:
            pids = sorted({v.get("pid") for v in views}, key=str)
            raise _not_compared(trigger, "had the lifespan add the key", len(views), pids)
        return _state_problem(view) or (None if "late" in (view.get("keys") or []) else snapshot)

    try:
        done = _per_transport(obs, "sequence", "s7", judge, lambda t: t.label, skip_h1=True)
    except Skip as exc:  # HTTP/1.1 was judged: the others' reasons go into the detail
        done = str(exc)
    return "a key the lifespan added after startup is seen by later requests: HTTP/1.1; " + done


S7 = Check("S7", "live copy", _s7,
           # Also for S10: its lifespan.shutdown sees the key these requests have the lifespan add.
           requests=(Step("s7", 50, _step_s7, when=_selecting("S7", "S10")),
                     EachTransport("s7", 51, "sequence", _s7_sequence, only=lambda t: t.name != "h1",
                                   when=_selecting("S7", "S10"))),
           reads=("first", "s7"), fields=_STATE | {"keys", "acted", "pid", "token", "run"}, lifespan=True)


def _s8_sequence(c: Session) -> Any:
    return TRANSPORTS["h1"].sequence(c, ["/", f"/?write={_REQ}s8", "/"])  # type: ignore[misc]


def _s8(obs: Observations) -> str:
    if not obs.s8:
        raise Skip("no run without lifespan possible here")
    seen, unstarted = [], []
    for label, run in obs.s8.items():
        if run.start_error:  # a server that cannot serve without lifespan has nothing to judge
            unstarted.append(f"{label}: the server did not start ({run.start_error})")
            continue
        why = run.missing("s8")
        if why:
            raise Fail(f"{label}: {why}")
        views = run.steps["s8"]
        for view in views:
            problem = _state_problem(view)
            if problem:
                raise Fail(f"{label}: {problem}")
        before, _, after = views
        if before["keys"] or after["keys"]:
            raise Fail(f"{label}: request state not empty: {before['keys']} / {after['keys']}")
        seen.append(label)
    if not seen:
        raise Skip("the kit cannot start the server without lifespan: " + "; ".join(unstarted))
    return f"every request gets an empty dict ({'; '.join(seen + unstarted)})"


S8 = Check("S8", "no lifespan", _s8,
           without_lifespan=(Step("s8", 0, _s8_sequence),), fields=_STATE | {"keys"})


def _s9(obs: Observations) -> str:
    result = obs.s9
    if result is None:
        raise Skip(f"no in-process driver for {obs.plan.recipe.name} (S9 serves two servers in one "
                    "process through the server's Python API)")
    if result.get("error"):
        raise Fail(f"driver: {result['error']}")
    seq, par = result["sequential"], result["concurrent"]
    _require(*(_state_problem(v) for v in [*seq, *par]))
    first, second = seq
    if f"{_REQ}s9-a" in (second.get("keys") or []):
        raise Fail("a second run with the same config saw a key written in the first run")
    one, two = par
    if f"{_REQ}s9-x" in (two.get("keys") or []) or f"{_REQ}s9-y" in (one.get("keys") or []):
        raise Fail("two servers in one process saw each other's keys")
    if not obs.plan.lifespan_on:
        return "lifespan off: runs and servers in one process never share request state"
    if second.get("run") == first.get("run"):
        raise Fail("a second run with the same config got the first run's lifespan state")
    if not (second.get("lifespan") or {}).get("empty_at_startup"):
        raise Fail("the second run's lifespan state was not empty at startup")
    _require(*(_identity_problem(v) for v in (second,)))
    if one.get("run") == two.get("run") or one.get("obj_id") == two.get("obj_id"):
        if obs.plan.middleware and not all(v.get("runtime_marked") for v in (one, two)):
            # The middleware names a request's run by a marker in the runtime's own dict: a
            # runtime whose requests carry none leaves it the latest run (_middleware).
            raise Skip("a second run starts empty; two servers at once cannot be told apart by the "
                       "middleware alone: this runtime's request scopes carry no dict of its "
                       "lifespan's, so the latest run wins")
        raise Fail("two servers in one process share one lifespan state")
    _require(*(_identity_problem(v) for v in (one, two)))
    return "a second run starts empty; two servers in one process stay apart"


S9 = Check("S9", "isolation between servers", _s9, short="server isolation",
           driver=True, fields=_STATE | _IDENTITY | {"run", "runtime_marked"})


def _s10(obs: Observations) -> str:
    run = obs.main
    pid = run.steps["first"]["pid"]
    lines = [line for line in run.shutdown if line.get("pid") == pid]
    if not lines or "shutdown" not in lines[-1]:
        # A harness (no command) has no exit status; what its block's end raised, if anything.
        ended = f"server exit status {run.exit_code}" if obs.plan.recipe.launch.command else (
            run.log_tail or "the harness's block ended without an error")
        raise Fail(f"the app saw no lifespan.shutdown ({ended})")
    record = lines[-1]
    shutdown = record["shutdown"]
    if not shutdown["has_state"] or shutdown["state_id"] is None:
        raise Fail("the lifespan scope had no state dict at shutdown")
    if not shutdown["same_dict"] or shutdown["state_id"] != record.get("state_id"):
        raise Fail("at shutdown the lifespan scope held another dict than at startup")
    keys = shutdown["keys"] or []
    missing = [k for k in LIFESPAN_KEYS if k not in keys]
    if missing:
        raise Fail(f"keys stored at startup missing at shutdown: {missing}")
    leaked = _request_keys(keys)
    if leaked:
        more = f" and {len(leaked) - 3} more" if len(leaked) > 3 else ""
        raise Fail(f"request writes reached the lifespan dict: {leaked[:3]}{more}")
    if shutdown["obj_id"] != record.get("obj_id"):
        raise Fail("the lifespan's 'obj' was replaced by a request")
    late = ", and the key added later" if "late" in keys else ""
    return f"lifespan.shutdown sees the same dict with its keys{late}"


S10 = Check("S10", "shutdown", _s10,
            reads=("first",), fields=frozenset({"pid"}), lifespan=True)


def _concurrent(c: Session, t: Transport,
                concurrent: Callable[[Session, List[str]], List[Json]]) -> List[Json]:
    owns = [f"{_REQ}{t.name}-{i}" for i in range(50 if t.name == "h1" else 20)]
    views = concurrent(c, [f"/?write={own}&sleep=0.1" for own in owns])
    for view, own in zip(views, owns):
        view["_own"] = own
    return views


def _s11(obs: Observations) -> str:
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


S11 = Check("S11", "concurrency", _s11,
            requests=(EachTransport("s11", 60, "concurrent", _concurrent, when=_selecting("S11")),),
            fields=_STATE | {"keys"})


def _s12(obs: Observations) -> str:
    server = obs.plan.recipe.integration  # the shim's status names the integration
    if obs.plan.middleware:
        raise Skip("the middleware arm: S12 is about the shim on a native release")
    if not obs.plan.shim_on:
        raise Skip("shim off")
    _require(obs.main.missing("s12"))
    acted = obs.main.steps["s12"].get("acted", {})
    status = (acted.get("status") or {}).get(server)
    if status is None:
        if not shim_supports(server):
            raise Skip(f"the shim has no module for {server}")
        raise Fail("the shim was not loaded in the server process")
    if status.get("mode") != "native":
        raise Skip(f"mode {status.get('mode')}: this release needs the shim's wrappers")
    if status.get("patched"):
        raise Fail(f"native release, yet wrapped: {status['patched']}")
    if acted.get("state_apps"):
        raise Fail(f"native release, yet {acted['state_apps']} StateApp objects are alive")
    return "native release: nothing wrapped, no StateApp in the server process"


def shim_mode(run: Run, server: str) -> Optional[str]:
    """The mode the shim chose for ``server`` in ``run``, as S12's status request read it."""
    status = ((run.steps.get("s12") or {}).get("acted") or {}).get("status") or {}
    mode = (status.get(server) or {}).get("mode")
    return str(mode) if mode is not None else None


S12 = Check("S12", "no double work", _s12,
            # With the shim on, whatever is selected: the record's mode is what this status says.
            requests=(Step("s12", 80, lambda c: c.get("/?status=1"), when=lambda plan: plan.shim_on),),
            fields=frozenset({"acted"}))


def _s13(obs: Observations) -> str:
    after = obs.after
    if after is None:
        raise Skip("a server serves nothing after its lifespan shutdown: no request comes after the run")
    if "s13" in after.errors and not after.start_error:
        # Nothing reached the app: a harness that refuses requests once its run ended leaks nothing.
        return f"the harness refuses a request after the run ended ({after.errors['s13']})"
    _require(after.missing("s13"))
    view = after.steps["s13"]
    if not view.get("has_state"):
        return "a request after the run ended gets no state at all: none of the run's objects"
    leaked = [k for k in LIFESPAN_KEYS if k in (view.get("keys") or [])]
    if leaked:
        raise Fail(f"a request after the run ended got the ended run's objects ({', '.join(leaked)}; "
                   f"lifespan run {view.get('run')})")
    read = ((view.get("acted") or {}).get("read") or {}).get("obj", "")
    return ("a request after the run ended gets a state without the run's objects"
            + (f"; reading 'obj' raises {read}" if read and read != "found" else ""))


S13 = Check("S13", "after the run", _s13,
            after_run=(Step("s13", 0, lambda c: c.get("/?read=obj")),),
            fields=frozenset({"has_state", "keys", "run", "acted"}), lifespan=True)


#: Every check, in report order (docs/CONFORMANCE.md's table). ``at`` orders the main run's
#: requests: the writes of S5, S3 and S4 come first (S10 and S11 look for them in every run),
#: the WebSocket that can end its connection comes last but for S12's status request.
SPEC: Tuple[Check, ...] = (S1, S2, S3, S4, S5, S6, S7, S8, S9, S10, S11, S12, S13)

#: id -> its check.
CHECK_TABLE: Dict[str, Check] = {check.id: check for check in SPEC}
#: id -> title (docs/CONFORMANCE.md), in report order.
CHECKS: Dict[str, str] = {check.id: check.title for check in SPEC}
#: Every field a judge reads (each one of the probe's view).
PROBE_FIELDS: FrozenSet[str] = frozenset().union(*(check.fields for check in SPEC))


def judge(check: Check, obs: Observations) -> CheckResult:
    """The result of ``check`` on ``obs``: its judge's verdict, or why it cannot be judged."""
    if check.lifespan and not obs.plan.lifespan_on:
        return CheckResult(check.id, SKIP, "lifespan is off in this configuration")
    try:
        _require(obs.main.missing(*check.reads) if check.reads else None)
        return CheckResult(check.id, PASS, check.judge(obs))
    except Fail as exc:
        return CheckResult(check.id, FAIL, str(exc))
    except Skip as exc:
        return CheckResult(check.id, SKIP, str(exc))
    except Exception as exc:  # an observation of a shape we did not expect
        return CheckResult(check.id, FAIL, f"unexpected observation: {describe(exc)}")


def selected_checks(plan: Plan) -> Sequence[Check]:
    """The checks ``plan`` judges, in report order."""
    return [check for check in SPEC if check.id in plan.selected]
