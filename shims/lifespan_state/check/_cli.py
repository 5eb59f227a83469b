"""``lifespan-state check``: run the conformance checks against the servers installed here.

With no options, every installed server is checked in its default configuration, natively (shim
off) and then with the shim on. The exit status is non-zero when a check fails with the shim on
(or, with ``--shim off`` alone, when any check fails: patched servers and negative controls are
checked that way).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, TextIO, Tuple

from .._versions import installed_version
from ._checks import check_configuration
from ._records import CHECKS, FAIL, PASS, ResultRecord
from ._servers import BUILDERS, ConfigError, load_extensions

__all__ = ["main", "render_table"]

_CELL = {PASS: "pass", FAIL: "FAIL", "skip": "n/a"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lifespan-state check",
        description="Run the lifespan-state conformance checks (S1-S12) against real server "
        "processes on 127.0.0.1, natively and with the shim.",
    )
    parser.add_argument("--server", choices=sorted(BUILDERS), help="check only this server")
    parser.add_argument("--http", help="HTTP protocol implementation (uvicorn: h11, httptools)")
    parser.add_argument("--ws", help="WebSocket implementation (uvicorn: websockets, "
                        "websockets-sansio, wsproto, none)")
    parser.add_argument("--lifespan", choices=["on", "auto", "off"], help="lifespan mode")
    parser.add_argument("--worker", help="event loop / worker class: asyncio, uvloop, trio")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="any other option the server's configurations offer (e.g. hypercorn "
                        "workers=2); repeatable")
    parser.add_argument("--shim", choices=["on", "off", "both"], default="both",
                        help="check natively (off), with the shim (on), or both (default)")
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
        if live:
            stream.write("\r\033[K" + text)
        else:
            stream.write(text + "\n")
        stream.flush()

    def done() -> None:
        if live:
            stream.write("\r\033[K")
            stream.flush()

    return show, done


def _column(record: ResultRecord) -> str:
    shim = "shim" if record.shim == "on" else "native"
    return f"{record.server} {record.server_version} {shim}"


def render_table(records: Sequence[ResultRecord]) -> str:
    """Rows = checks, columns = configurations; then what fails natively and what the shim fixes."""
    if not records:
        return "no results"
    ids = [c for c in CHECKS if any(r.check(c) for r in records)]
    title_width = max(len(f"{i} {CHECKS[i]}") for i in ids) + 2
    headers = [_column(r) for r in records]
    configs = ["/".join(r.config.values()) for r in records]
    widths = [max(len(h), len(c), 6) + 2 for h, c in zip(headers, configs)]
    lines = [
        "".ljust(title_width) + "".join(h.ljust(w) for h, w in zip(headers, widths)),
        "".ljust(title_width) + "".join(c.ljust(w) for c, w in zip(configs, widths)),
    ]
    modes = [f"mode={r.mode}" if r.mode else "" for r in records]
    if any(modes):
        lines.append("".ljust(title_width) + "".join(m.ljust(w) for m, w in zip(modes, widths)))
    lines.append("-" * (title_width + sum(widths)))
    for check_id in ids:
        cells = []
        for record, width in zip(records, widths):
            result = record.check(check_id)
            cells.append((_CELL[result.status] if result else "-").ljust(width))
        lines.append(f"{check_id} {CHECKS[check_id]}".ljust(title_width) + "".join(cells))
    lines.append("")
    lines += _summary(records)
    if any(r.failed() for r in records):
        lines += ["", "What failed:"]
        for record in records:
            # One line per distinct observation: a server without state fails most checks the
            # same way, and one line says so.
            by_detail: Dict[str, List[str]] = {}
            for result in record.checks:
                if result.status == FAIL:
                    by_detail.setdefault(result.detail, []).append(result.id)
            for detail, ids in by_detail.items():
                lines.append(f"  {_column(record)} {', '.join(ids)}: {detail}")
    return "\n".join(lines)


def _summary(records: Sequence[ResultRecord]) -> List[str]:
    lines: List[str] = []
    groups: Dict[Tuple[str, Optional[str], str], Dict[str, ResultRecord]] = {}
    for record in records:
        key = (record.server, record.server_version, json.dumps(record.config, sort_keys=True))
        groups.setdefault(key, {})[record.shim] = record
    for (server, version, _), pair in groups.items():
        name = f"{server} {version}"
        native, shimmed = pair.get("off"), pair.get("on")
        if native is not None:
            failed = native.failed()
            lines.append(f"{name} without the shim: " + (
                f"FAILS {', '.join(failed)}" if failed else "every applicable check passes"))
        if shimmed is not None:
            failed = shimmed.failed()
            if failed:
                lines.append(f"{name} with the shim (mode {shimmed.mode}): FAILS {', '.join(failed)}")
            elif native is not None and native.failed():
                lines.append(f"{name} with the shim (mode {shimmed.mode}): every applicable check "
                             f"passes — the shim fixes {', '.join(native.failed())}")
            else:
                lines.append(f"{name} with the shim (mode {shimmed.mode}): every applicable check passes")
    return lines


def _servers(chosen: Optional[str]) -> List[str]:
    if chosen:
        return [chosen]
    # Metadata only: the checking process never imports a server.
    return [name for name in BUILDERS if installed_version(name) is not None]


def main(argv: List[str]) -> int:
    load_extensions()
    options = _parser().parse_args(argv)
    selected = None
    if options.checks:
        selected = [c.strip().upper() for c in options.checks.split(",") if c.strip()]
        unknown = [c for c in selected if c not in CHECKS]
        if unknown:
            print(f"lifespan-state check: unknown check {unknown[0]} (known: {', '.join(CHECKS)})",
                  file=sys.stderr)
            return 2
    servers = _servers(options.server)
    if not servers:
        print("lifespan-state check: neither uvicorn nor hypercorn is installed in this environment "
              f"({sys.executable}); install one, e.g. `pip install uvicorn`.", file=sys.stderr)
        return 2
    shims = {"on": [True], "off": [False], "both": [False, True]}[options.shim]
    show, done = _progress(sys.stderr)
    records: List[ResultRecord] = []
    for server in servers:
        builder = BUILDERS[server]
        capabilities = builder.available()
        if capabilities.error:
            print(f"lifespan-state check: {capabilities.error}", file=sys.stderr)
            return 2
        chosen: Dict[str, Optional[str]] = {"http": options.http, "ws": options.ws,
                                            "lifespan": options.lifespan, "worker": options.worker}
        try:
            for item in options.option:
                name, sep, value = item.partition("=")
                if not sep or not name:
                    raise ConfigError(f"--option wants NAME=VALUE, got {item!r}")
                chosen[name.strip()] = value.strip()
            config = builder.config(capabilities, **chosen)
        except ConfigError as exc:
            print(f"lifespan-state check: {exc}", file=sys.stderr)
            return 2
        for shim_on in shims:
            records.append(check_configuration(builder, capabilities, config, shim_on,
                                               checks=selected, timeout=options.timeout,
                                               progress=show))
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
        print(render_table(records))
    judged = [r for r in records if r.shim == "on"] or records
    return 0 if all(r.passed for r in judged) else 1
