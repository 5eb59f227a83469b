"""``lifespan-state check``: the conformance checks S1-S13 (docs/CONFORMANCE.md) against servers.

With no ``--server``, every built-in server installed here is checked natively and, where the shim
supports it, with the shim; ``--command`` checks any server command (the command, ``--stop-signal``
and ``--lifespan-off-command`` are all the kit runs). ``--shim middleware`` checks the probe wrapped
by ``LifespanStateMiddleware`` instead, with no activation. The exit status is non-zero when a check
fails with the shim on or with the middleware (without either: when any check fails).
"""


from __future__ import annotations

import argparse
import json
import platform
import string
import sys
import textwrap
import time
from typing import Callable, Dict, List, Optional, Sequence, TextIO, Tuple

from ._checks import SHIMS, run_checks, shim_supports
from ._harness_checks import HARNESSES, check_harness
from ._installed import providing
from ._recipes import RECIPES, ConfigError, Recipe, custom_recipe
from ._records import FAIL, PASS, SKIP, ResultRecord, judged
from ._spec import CHECKS, SPEC
from ._transports import TRANSPORTS

__all__ = ["SHORT", "main", "render_table"]

_CELL = {PASS: "pass", FAIL: "FAIL", SKIP: "n/a"}
WIDTH = 100
#: Row labels of the table: the titles (CHECKS, docs/CONFORMANCE.md), the long ones shortened.
SHORT = {check.id: check.short or check.title for check in SPEC}


def _values(option: str) -> str:
    """What the built-in recipes take for ``option``, for the help: `` (NAME: value, value; ...)``."""
    offered = "; ".join(f"{name}: {', '.join(r.launch.options[option])}" for name, r in RECIPES.items()
                        if len(r.launch.options.get(option, ())) > 1)
    return f" ({offered})" if offered else ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lifespan-state check",
        description="Run the lifespan-state conformance checks (S1-S13, docs/CONFORMANCE.md) "
        "against real server processes on 127.0.0.1, natively and with the shim.",
    )
    parser.add_argument("--server", choices=sorted(RECIPES),
                        help="check this built-in server (default: every one installed here)")
    parser.add_argument("--command", metavar="TEMPLATE",
                        help="check any server command, e.g. '{python} -m uvicorn {app} --host "
                        "{host} --port {port}' (also {certfile} {keyfile} for TLS, {workdir}); the "
                        "kit adds no option to it, and the report says the stop signal and the run "
                        "without lifespan it used")
    parser.add_argument("--stop-signal", metavar="SIGNAL",
                        help="with --command: the signal of a graceful stop, the one that runs "
                        "lifespan.shutdown (default SIGTERM)")
    parser.add_argument("--lifespan-off-command", metavar="TEMPLATE",
                        help="with --command: the same server with lifespan disabled, for S8 (default: "
                        "none; S8 then runs the command with an app that raises on the lifespan "
                        "scope, and is n/a where the server does not start that way)")
    parser.add_argument("--harness", choices=list(HARNESSES), help="check a test harness, in-process")
    parser.add_argument("--name", help="with --command: the server's distribution name (default: "
                        "the module after -m, or the executable); a built-in server it names, or "
                        "whose import package it installs, lends its transports and S9 driver")
    parser.add_argument("--transport", action="append", choices=list(TRANSPORTS), default=[],
                        help="with --command: a transport the server speaks (repeatable; default: "
                        "the built-in server's, else h1 and ws)")
    parser.add_argument("--tls", action="store_true",
                        help="serve TLS with a throw-away certificate: HTTP/2 over TLS, HTTP/3, "
                        "WebSocket over HTTP/2 where the server speaks them (a server whose recipe "
                        "has no TLS: refused with --server, its checks n/a in a sweep)")
    parser.add_argument("--http", help=f"HTTP protocol implementation{_values('http')}")
    parser.add_argument("--ws", help=f"WebSocket implementation{_values('ws')}")
    parser.add_argument("--lifespan", choices=["on", "auto", "off"], help="lifespan mode")
    parser.add_argument("--worker", help=f"event loop / worker class{_values('worker')}")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="any other option of the server's recipe (e.g. workers=2: requests are "
                        "then compared only where one worker process served them); repeatable")
    parser.add_argument("--shim", choices=list(SHIMS), default="both",
                        help="check natively (off), with the shim (on), or both (default; servers "
                        "the shim does not support are checked natively); middleware: the app "
                        "wrapped by LifespanStateMiddleware, no activation; all: the three")
    parser.add_argument("--checks", help="comma-separated check ids, e.g. S1,S5 (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds for each network wait (server start-up: at least 20)")
    return parser


def _progress(stream: TextIO) -> Tuple[Callable[[str], None], Callable[[], None]]:
    started = time.monotonic()
    live = stream.isatty()

    def show(message: str) -> None:
        text = f"[{time.monotonic() - started:5.1f}s] {message}"
        stream.write("\r\033[K" + text if live else text + "\n")
        stream.flush()

    def done() -> None:
        if live:
            stream.write("\r\033[K")
            stream.flush()

    return show, done


#: How the table names each arm (a record's ``shim``).
_ARMS = {"off": "native", "middleware": "middleware only (no activation)"}


def _column(record: ResultRecord) -> str:
    shim = f"shim (mode {record.mode})" if record.shim == "on" else _ARMS[record.shim]
    return f"{record.server} {record.server_version} {shim}"


def _wrap(text: str, indent: str = "  ") -> List[str]:
    return textwrap.wrap(text, WIDTH, subsequent_indent=indent + "  ", initial_indent=indent,
                         break_on_hyphens=False) or [indent]


def render_table(records: Sequence[ResultRecord], *, shim_asked: bool = True) -> str:
    """Rows = checks, columns = configurations (letters, explained under the table); then the
    reasons of every ``n/a``, what fails, and what the shim changes (``shim_asked``: the run
    asked for the shim arm, so a server without one gets a line saying so). Fits in 100 columns."""
    if not records:
        return "no results"
    ids = [c for c in CHECKS if any(r.check(c) for r in records)]
    letters = (string.ascii_uppercase * 2)[: len(records)]
    label_width = max(len(f"{i} {SHORT[i]}") for i in ids) + 2
    lines = ["".ljust(label_width) + "".join(f"{x:<6}" for x in letters).rstrip()]
    for check_id in ids:
        results = [record.check(check_id) for record in records]
        cells = "".join(f"{_CELL[r.status] if r else '-':<6}" for r in results)
        lines.append(f"{check_id} {SHORT[check_id]}".ljust(label_width) + cells.rstrip())
    lines.append("")
    for letter, record in zip(letters, records):
        config = "; " + ", ".join(f"{k}={v}" for k, v in record.config.items()) if record.config else ""
        lines += _wrap(f"{letter} = {_column(record)}{config}", "")
    for kind, title in ((SKIP, "n/a (does not apply):"), (FAIL, "What failed:")):
        entries = _grouped(records, letters, kind)
        if entries:
            lines += ["", title] + [w for e in entries for w in _wrap(e)]
    summary = _summary(records, shim_asked)
    if summary:
        lines += [""] + [w for s in summary for w in _wrap(s, "")]
    return "\n".join(lines)


def _grouped(records: Sequence[ResultRecord], letters: str, status: str) -> List[str]:
    """One line per distinct detail: a server without state fails most checks the same way."""
    by_detail: Dict[Tuple[str, str], List[str]] = {}
    for letter, record in zip(letters, records):
        for result in record.checks:
            if result.status == status:
                by_detail.setdefault((result.id, result.detail), []).append(letter)
    merged: Dict[Tuple[str, str], List[str]] = {}
    for (check_id, detail), where in by_detail.items():
        merged.setdefault((",".join(where), detail), []).append(check_id)
    return [f"{where} {', '.join(ids)}: {detail}" for (where, detail), ids in merged.items()]


def _verdict(failed: List[str]) -> str:
    return f"FAILS {', '.join(failed)}" if failed else "every applicable check passes"


def _summary(records: Sequence[ResultRecord], shim_asked: bool = True) -> List[str]:
    lines: List[str] = []
    groups: Dict[Tuple[str, Optional[str], str], Dict[str, ResultRecord]] = {}
    for record in records:
        key = (record.server, record.server_version, json.dumps(record.config, sort_keys=True))
        groups.setdefault(key, {})[record.shim] = record
    for (server, version, _), pair in groups.items():
        name = f"{server} {version}"
        native, shimmed, middleware = pair.get("off"), pair.get("on"), pair.get("middleware")
        if native is not None:
            lines.append(f"{name} without the shim: {_verdict(native.failed())}")
        if shimmed is not None:
            fixed = native.failed() if native is not None and not shimmed.failed() else []
            fixes = f" — the shim fixes {', '.join(fixed)}" if fixed else ""
            lines.append(f"{name} with the shim (mode {shimmed.mode}): {_verdict(shimmed.failed())}{fixes}")
        elif native is not None and shim_asked and not shim_supports(server):
            lines.append(f"{name} with the shim: n/a (the shim has no module for {server})")
        if middleware is not None:
            lines.append(f"{name} with the middleware only: {_verdict(middleware.failed())}")
    return lines


def _recipes(options: argparse.Namespace) -> List[Recipe]:
    if options.command:
        return [custom_recipe(options.command, options.name, tuple(options.transport) or None,
                              stop=options.stop_signal or "SIGTERM",
                              lifespan_off=options.lifespan_off_command)]
    if options.stop_signal or options.lifespan_off_command:
        raise ConfigError("--stop-signal and --lifespan-off-command go with --command")
    if options.server:
        return [RECIPES[options.server]]
    # Metadata only (a fork installing a server's import package counts): the checking process
    # never imports a server.
    return [r for name, r in RECIPES.items() if providing(name, r.package) is not None]


def _chosen(recipe: Recipe, options: argparse.Namespace) -> Dict[str, Optional[str]]:
    chosen: Dict[str, Optional[str]] = {}
    for name in ("http", "ws", "lifespan", "worker"):
        value = getattr(options, name)
        if value is not None or name in recipe.launch.options:
            chosen[name] = value
    for item in options.option:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--option wants NAME=VALUE, got {item!r}")
        chosen[name.strip()] = value.strip()
    return chosen


def _error(message: str) -> int:
    print(f"lifespan-state check: {message}", file=sys.stderr)
    return 2


def main(argv: List[str]) -> int:
    options = _parser().parse_args(argv)
    selected = None
    if options.checks:
        selected = [c.strip().upper() for c in options.checks.split(",") if c.strip()]
        unknown = [c for c in selected if c not in CHECKS]
        if unknown:
            return _error(f"unknown check {unknown[0]} (known: {', '.join(CHECKS)})")
    if sum(map(bool, (options.command, options.server, options.harness))) > 1:
        return _error("--server, --command and --harness exclude each other")
    try:
        recipes = [] if options.harness else _recipes(options)
    except ConfigError as exc:
        return _error(str(exc))
    except (ValueError, IndexError) as exc:
        return _error(f"--command: {exc}")
    if not recipes and not options.harness:
        return _error(f"none of the built-in servers ({', '.join(RECIPES)}) is installed in this "
                      f"environment ({sys.executable}); install one, e.g. "
                      f"`pip install {next(iter(RECIPES))}`, or "
                      "check any server with --command.")
    show, done = _progress(sys.stderr)
    try:
        records = check_harness(options.harness, options.shim, selected, options.timeout, show) \
            if options.harness else []
        for recipe in recipes:
            records += run_checks(recipe, _chosen(recipe, options), shim=options.shim, checks=selected,
                                  timeout=options.timeout, tls=options.tls, progress=show,
                                  sweep=not (options.server or options.command))
    except ConfigError as exc:
        return _error(str(exc))
    done()
    if options.json:
        document = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "results": [r.as_dict() for r in records],
        }
        json.dump(document, sys.stdout, indent=2)
        print()
    else:
        print(render_table(records, shim_asked="on" in SHIMS[options.shim]))
    return 0 if all(r.passed for r in judged(records)) else 1
