"""The one engine: the checks of docs/CONFORMANCE.md (``_spec``) against a real server process.

One *configuration* (a recipe, its options, TLS or not, and its arm: natively, with the shim, or
the probe wrapped by ``LifespanStateMiddleware`` with no activation) is checked by a few runs:
the main run (every transport the server speaks carries the checks' requests; its graceful stop
makes the probe report what ``lifespan.shutdown`` saw, S10), the runs without lifespan (lifespan
off where the server can, an app raising on the lifespan scope) and the in-process driver
(``_driver``) — the last two only when a selected check reads them.

The harness driver (``_harness_checks``) runs the same checks in-process through
:func:`main_body`, :func:`needs_runs_without_lifespan`, :func:`without_lifespan_body`,
:func:`needs_driver`, :func:`record` and :func:`environment`, with a :class:`~._observe.Run` per
harness run, and :func:`after_run_body` once a run has ended (a server serves nothing then).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

from .._registry import DISABLE_ENV
from ._observe import CHECK_EXTRA, Json, Observations, Plan, Run, describe, make_plan
from ._recipes import RECIPES, Capabilities, ConfigError, LaunchContext, Recipe
from ._records import SKIP, CheckResult, ResultRecord
from ._runner import HOST, ServerProcess, ServerStartError, free_port, json_line, last_line
from ._spec import CHECKS, SPEC, Requests, judge, selected_checks, shim_mode, shim_supports
from ._transports import Session

__all__ = ["ARM_LABELS", "SHIMS", "Body", "Progress", "after_run_body", "arms", "check_configuration",
           "environment", "main_body", "needs_driver", "needs_runs_without_lifespan", "quiet", "record",
           "run_checks", "shim_supports", "without_lifespan_body"]

Progress = Callable[[str], None]
Body = Callable[[Run, Session], None]


def quiet(_: str) -> None:
    """A :data:`Progress` that says nothing."""


def _body(plan: Plan, requests: Sequence[Requests]) -> Body:
    def body(run: Run, c: Session) -> None:
        for requested in requests:
            for name, action in requested.actions(plan, c):
                run.step(name, action)

    return body


def main_body(plan: Plan) -> Body:
    """The main run: every check's requests that ``plan`` makes, in the order of their ``at``."""
    made = (requests for check in SPEC for requests in check.requests if requests.when(plan))
    return _body(plan, sorted(made, key=lambda requests: requests.at))


def without_lifespan_body(plan: Plan) -> Body:
    """A run without lifespan: the selected checks' requests for one."""
    return _body(plan, [step for check in selected_checks(plan) for step in check.without_lifespan])


def after_run_body(plan: Plan) -> Body:
    """After the main run's lifespan ended (a harness, whose client can still be used): the
    selected checks' requests for then."""
    return _body(plan, [step for check in selected_checks(plan) for step in check.after_run])


def needs_runs_without_lifespan(plan: Plan) -> bool:
    """Does a selected check make requests in runs without lifespan?"""
    return any(check.without_lifespan for check in selected_checks(plan))


def needs_driver(plan: Plan) -> bool:
    """Does a selected check read the in-process driver's scenarios?"""
    return any(check.driver for check in selected_checks(plan))


def record(obs: Observations, server: str, version: Optional[str], config: Dict[str, str]) -> ResultRecord:
    """The :class:`ResultRecord` of the selected checks, judged from ``obs``."""
    plan = obs.plan
    return ResultRecord(server, version, config, plan.arm,
                        shim_mode(obs.main, plan.recipe.integration) if plan.shim_on else None,
                        [judge(check, obs) for check in selected_checks(plan)], obs.main.log_tail)


# -- running a configuration -----------------------------------------------------------------------

def environment(shim_on: bool, report: Optional[str] = None, lifespan_raise: bool = False,
                middleware: bool = False) -> Dict[str, str]:
    """The environment of a server (or harness) process of one arm."""
    # Native means native: a bootstrap on PYTHONPATH (``lifespan-state run``) must stay inert too
    # (so must it in the middleware arm: the middleware alone, no activation); and a shim-on run
    # must not be switched off by the caller's environment. The probe's own variables (``_probe``)
    # come from here only.
    env = {k: v for k, v in os.environ.items()
           if k != DISABLE_ENV and not k.startswith("LIFESPAN_STATE_PROBE_")}
    probe = "middleware" if middleware else "1" if shim_on else "0"
    env.update(LIFESPAN_STATE_PROBE_SHIM=probe, PYTHONUNBUFFERED="1")
    if not shim_on:
        env[DISABLE_ENV] = "1"
    if report:
        env["LIFESPAN_STATE_PROBE_REPORT"] = report
    if lifespan_raise:
        env["LIFESPAN_STATE_PROBE_LIFESPAN"] = "raise"
    return env


def _serve(plan: Plan, config: Dict[str, str], env: Dict[str, str], base: LaunchContext,
           timeout: float, body: Callable[[Run, Session], None]) -> Run:
    """One server run: start the recipe's command, run ``body`` against it, stop it."""
    run = Run()
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
        raise ConfigError(f"TLS runs need trustme for a throw-away certificate: {CHECK_EXTRA}") from None
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = os.path.join(workdir, "ca.pem")
    ctx = LaunchContext(HOST, 0, workdir, certfile=os.path.join(workdir, "server.pem"),
                        keyfile=os.path.join(workdir, "server.key"), ca_file=ca_file)
    ca.cert_pem.write_to_path(ca_file)
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
    progress: Progress = quiet,
    middleware: bool = False,
) -> ResultRecord:
    """Run the selected checks (default: all) on one configuration; one :class:`ResultRecord`.
    ``middleware``: the middleware arm (``shim_on`` False), the probe wrapped by the middleware."""
    selected = list(checks or CHECKS)
    workdir = tempfile.mkdtemp(prefix="lifespan-state-check-")
    try:
        plan = make_plan(recipe, config, tls, shim_on, selected, middleware)
        label = f"{recipe.name} {capabilities.version} {ARM_LABELS[plan.arm]}"
        base = _tls_context(workdir) if tls else LaunchContext(HOST, 0, workdir)
        report = os.path.join(workdir, "shutdown.jsonl")

        progress(f"{label}: main run")
        main = _serve(plan, config, environment(shim_on, report, middleware=middleware), base, timeout,
                      main_body(plan))
        main.shutdown = _read_report(report)

        s8: Dict[str, Run] = {}
        without = without_lifespan_body(plan)
        # Without lifespan in the configuration itself, one more run of it is the S8 run.
        off, raising_app = recipe.launch.lifespan_off, recipe.launch.lifespan_raise
        s8_runs = [("lifespan off", {}, False)] if not plan.lifespan_on else [
            *([("lifespan off", off, False)] if off is not None else []),
            ("app raises on lifespan", raising_app, True)]
        for name, overrides, raising in s8_runs if needs_runs_without_lifespan(plan) else []:
            progress(f"{label}: S8 run, {name}")
            env = environment(shim_on, lifespan_raise=raising, middleware=middleware)
            s8[name] = _serve(plan, {**config, **overrides}, env, base, timeout, without)

        s9: Optional[Json] = None
        if recipe.driver and needs_driver(plan):
            progress(f"{label}: S9 in-process servers")
            try:
                args = ["lifespan_state.check._driver", recipe.integration, json.dumps(config), str(timeout)]
                s9 = json_line(args, environment(shim_on, middleware=middleware), timeout * 6 + 30,
                               RuntimeError)
            except Exception as exc:
                s9 = {"error": describe(exc)}
        shown = {**config, **({"tls": "on"} if tls else {}), **recipe.described(capabilities)}
        return record(Observations(plan, main, s8, s9), recipe.name, capabilities.version, shown)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


#: ``--shim`` -> the arms of a configuration, as the records' ``shim`` says them: natively
#: (``off``), with the shim (``on``), the probe wrapped by the middleware, no activation
#: (``middleware``).
SHIMS = {"on": ["on"], "off": ["off"], "both": ["off", "on"], "middleware": ["middleware"],
         "all": ["off", "on", "middleware"]}
#: arm -> how a progress line says it.
ARM_LABELS = {"off": "shim off", "on": "shim on", "middleware": "middleware only"}


def arms(shim: str, server: str) -> List[str]:
    """The arms ``--shim`` runs on ``server``: ``both`` and ``all`` leave out the shim where it
    has no module for the server (``on`` alone keeps it: that run says so)."""
    chosen = SHIMS[shim]
    if shim in ("both", "all") and not shim_supports(server):
        return [arm for arm in chosen if arm != "on"]
    return chosen


def run_checks(
    server: Union[str, Recipe],
    options: Optional[Mapping[str, Optional[str]]] = None,
    *,
    shim: str = "on",
    checks: Optional[Sequence[str]] = None,
    timeout: float = 10.0,
    tls: bool = False,
    progress: Progress = quiet,
    sweep: bool = False,
) -> List[ResultRecord]:
    """Check one configuration of ``server`` (a built-in's name or a :class:`Recipe`; options
    e.g. ``{"http": "h11", "lifespan": "on"}``, None: the default) — the ``lifespan-state check`` run.

    ``shim``: a key of :data:`SHIMS` (:func:`arms`: ``"both"`` is native first, then the shim where
    it has a module for the server; ``"middleware"`` the middleware arm). Runs with the
    interpreter of this process, i.e. against the server release installed in this environment.
    A configuration it cannot run raises :class:`ConfigError` — but for TLS on a server whose recipe
    has none in a ``sweep`` of every installed server: its checks are then n/a, saying why.
    """
    if isinstance(server, str) and server not in RECIPES:
        raise ValueError(f"unknown server {server!r}; known: {', '.join(RECIPES)}")
    recipe = RECIPES[server] if isinstance(server, str) else server
    no_tls = f"{recipe.name} has no TLS in the check kit's recipe"
    if tls and not recipe.custom and not recipe.launch.tls and not sweep:
        # Said before any server starts: every check would otherwise time out in the handshake.
        raise ConfigError(f"{no_tls}: run it without --tls")
    capabilities = recipe.available()
    if capabilities.error:
        raise ConfigError(capabilities.error)
    if tls and not recipe.custom and not recipe.launch.tls:
        selected = list(checks or CHECKS)
        return [ResultRecord(recipe.name, capabilities.version, {"tls": "on"}, arm, None,
                             [CheckResult(c, SKIP, f"{no_tls} (no run)") for c in selected])
                for arm in arms(shim, recipe.shimmed_by)]
    chosen = dict(options or {})
    if not recipe.custom:
        config = recipe.config(capabilities, **chosen)
    elif any(v is not None for v in chosen.values()):
        raise ConfigError("with --command, put the server's options into the command")
    else:
        config = {"command": recipe.launch.command}
    tls = tls or (recipe.custom and "{certfile}" in recipe.launch.command)
    return [check_configuration(recipe, capabilities, config, arm == "on", tls=tls, checks=checks,
                                timeout=timeout, progress=progress, middleware=arm == "middleware")
            for arm in arms(shim, recipe.shimmed_by)]
