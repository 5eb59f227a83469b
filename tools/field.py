"""docs/field.md: the newest release of every built-in server and test harness, natively and shimmed.

    python tools/field.py            # run the checks, store them (docs/field.json), rewrite docs/field.md
    python tools/field.py --render   # rewrite docs/field.md from docs/field.json, run nothing
    python tools/field.py --check    # run them again, fail when docs/field.md says otherwise

Each server gets its own environment (tools.envs: the release plus the kit's clients) in which
``lifespan-state check --server NAME --json --shim all`` runs — over TLS where the server's recipe
can serve it, so HTTP/2 by ALPN and HTTP/3 are checked too. ``--shim all`` checks natively, where
the shim has a module for the server (``_versions.SUPPORTED``) with the shim, and with the
probe wrapped by ``LifespanStateMiddleware`` (no activation): the shim's and the middleware's
tables fill in for every column when this runs, with nothing to change here.
The test harnesses (``HARNESSES``) get columns of their own: ``lifespan-state check --harness
NAME --json --shim all`` in an environment holding the harness's newest release and httpx, the
checks run in-process with the harness in place of a server. A descriptor's ``field_page.arms``
add columns running the same integration's code another way (a fork's distribution, another front
end, another protocol stack or HTTP client): each arm says its ``check`` arguments and what its
environment holds (``COLUMNS``). ``--check`` compares the verdicts
(both tables) for the columns it could install; one that does not install here keeps its committed
column and is named in the output.

A run stores what the checks returned in docs/field.json and renders the page from it, so that the
page can be checked offline against its own results (``render(stored())``, the default test suite)
while a live run stays a separate question: third-party servers have races of their own (see
``main``), and the default suite must not depend on them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lifespan_state._integrations._descriptor import Integration  # noqa: E402
from lifespan_state._integrations._load import integrations  # noqa: E402
from lifespan_state._integrations._tools import Field, FieldArm  # noqa: E402
from lifespan_state.check import CHECKS  # noqa: E402
from tools.envs import EnvError, EnvSpec, ensure_env  # noqa: E402

__all__ = ["COLUMNS", "HARNESSES", "NEWEST", "Column", "main", "render", "run_server", "store", "stored"]

PATH = ROOT / "docs" / "field.md"
#: The results the page was rendered from: ``{column: {"records": [...], "error": "..."}}``.
RESULTS = ROOT / "docs" / "field.json"
#: The kit's clients (the ``check`` extra) and a WebSocket library for the servers that need one.
CLIENTS = ("h2", "wsproto", "trustme", "aioquic")
#: The harnesses' client (the newest httpx, December 2026).
HTTPX = "0.29.0"
#: The shim's own harness: httpx is all it needs, and there is no shim to switch on for it.
OWN_HARNESS = "lifespan_state.testing"


@dataclass(frozen=True)
class Column:
    """One column of the page: what runs (``lifespan-state check`` arguments) in which environment."""

    key: str  # its label's first word (--check reads it back from the page)
    label: str
    kind: str  # "server" or "harness"
    #: The records' ``server`` (the integration whose code runs) and the release they must give
    #: (None: the kit cannot read it, e.g. a fork installing the server's code under its own name).
    server: str
    version: Optional[str]
    env: EnvSpec
    target: Tuple[str, ...]
    #: What the page says about the column (its descriptor's ``field_page`` note).
    note: str = ""


def _release(integration: Integration, page: Field) -> str:
    return page.release or integration.newest_tested


def _own(i: Integration, page: Field, tls: bool) -> Column:
    release = _release(i, page)
    label = page.label.format(name=i.name, release=release)
    if i.harnesses:
        return Column(i.name, label, "harness", i.name, release,
                      EnvSpec(i.name, release, extra=(f"httpx=={HTTPX}",)), ("--harness", i.harnesses[0][0]),
                      page.note)
    return Column(i.name, label, "server", i.name, release, EnvSpec(i.name, release, extra=CLIENTS),
                  ("--server", i.name, *(["--tls"] if tls else [])), page.note)


def _arm(i: Integration, base: Column, arm: FieldArm) -> Column:
    release = arm.release or base.env.version
    clients = (arm.client or f"httpx=={HTTPX}",) if base.kind == "harness" else CLIENTS
    env = EnvSpec(arm.distribution or i.name, release, extra=(*clients, *arm.extra))
    server, installed = arm.server or i.name, arm.distribution or i.name
    # The kit reads the version of the distribution the records name (a fork's: none).
    return Column(arm.key, arm.label.format(release=release, base=base.label), base.kind, server,
                  release if server == installed else None, env, arm.check, arm.note)


def _columns_of(i: Integration, page: Field) -> List[Column]:
    base = _own(i, page, i.launch is not None and bool(i.launch.tls))
    return [base, *(_arm(i, base, arm) for arm in page.arms)]


#: Every column of the page, in its order: the servers by rank, then the harnesses (each
#: integration's own column, then its arms), then the shim's own harness. A harness integration
#: has a column once it has both a ``field_page`` and a ``harness`` (the kit can run it).
COLUMNS: Dict[str, Column] = {
    c.key: c for kind in ("server", "harness") for i in integrations()
    if i.kind == kind and i.field_page is not None and (kind == "server" or i.harness is not None)
    for c in _columns_of(i, i.field_page)
}
COLUMNS[OWN_HARNESS] = Column(OWN_HARNESS, OWN_HARNESS, "harness", OWN_HARNESS, None, EnvSpec("httpx", HTTPX),
                              ("--harness", OWN_HARNESS))
#: The release of each server column, in the page's order.
NEWEST: Dict[str, str] = {k: c.env.version for k, c in COLUMNS.items() if c.kind == "server"}
#: The harness columns.
HARNESSES: Dict[str, Column] = {k: c for k, c in COLUMNS.items() if c.kind == "harness"}
_CELL = {"pass": "pass", "fail": "**FAIL**", "skip": "n/a"}
#: How "What the runs said" names each arm but the shim's (which names its mode).
_ARMS = {"off": "natively", "middleware": "with the middleware only"}

Record = Dict[str, Any]


def _failed(record: Record) -> List[str]:
    """The ids of the checks ``record`` fails."""
    return [c["id"] for c in record["checks"] if c["status"] == "fail"]


def _spec(column: str) -> EnvSpec:
    return COLUMNS[column].env


def _label(column: str) -> str:
    return COLUMNS[column].label


def run_server(column: str, timeout: float = 600, shim: str = "all") -> Tuple[List[Record], str]:
    """(result records, error) of ``lifespan-state check --shim SHIM`` of a column (a key of
    COLUMNS) in its environment."""
    try:
        env = ensure_env(_spec(column))
    except EnvError as exc:
        return [], f"does not install here: {exc.reason}"
    argv = [str(env / "bin" / "python"), "-m", "lifespan_state", "check", *COLUMNS[column].target,
            "--json", "--shim", shim]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT)
    try:
        records: List[Record] = json.loads(done.stdout)["results"]
    except (ValueError, KeyError):
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return [], f"check exited {done.returncode} without results: {tail}"
    return records, ""


def _stable(text: str) -> str:
    """Details without what differs between two runs (addresses, ports, process ids)."""
    text = re.sub(r"0x[0-9a-fA-F]{6,}", "0xADDR", text)  # not an error code (0x200)
    text = re.sub(r"\bpid \d+", "pid PID", text)
    text = re.sub(r"they reached \d+(, \d+)*", "they reached other pids", text)
    return re.sub(r"(127\.0\.0\.1|localhost):\d+", r"\1:PORT", text)


def _table(columns: Dict[str, Optional[Record]], title: str) -> List[str]:
    names = list(columns)
    lines = [f"| {title} | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for check_id, check_title in CHECKS.items():
        cells = []
        for name in names:
            record = columns[name]
            found = [c for c in record["checks"] if c["id"] == check_id] if record else []
            cells.append(_CELL[found[0]["status"]] if found else "—")
        lines.append(f"| {check_id} {check_title} | " + " | ".join(cells) + " |")
    return lines


def render(results: Dict[str, Tuple[List[Record], str]]) -> str:
    """The page, from ``{column: (records, error)}`` (every server of NEWEST, every harness)."""
    native: Dict[str, Optional[Record]] = {}
    shimmed: Dict[str, Optional[Record]] = {}
    middleware: Dict[str, Optional[Record]] = {}
    for server, (records, _) in results.items():
        label = _label(server)
        native[label] = next((r for r in records if r["shim"] == "off"), None)
        shimmed[label] = next((r for r in records if r["shim"] == "on"), None)
        middleware[label] = next((r for r in records if r["shim"] == "middleware"), None)
    harnesses = sum(1 for column in results if COLUMNS[column].kind == "harness")
    lines = [
        "# The field: lifespan state in the newest release of every ASGI server and test harness",
        "",
        "Generated by `python tools/field.py` — do not edit. Each column is a real run of",
        "`lifespan-state check --server NAME --shim all --json` (over TLS where the server serves",
        "it: HTTP/1.1, WebSocket, HTTP/2 by ALPN, HTTP/3, WebSocket over HTTP/2 as each speaks them)",
        "in an environment holding that release; the checks are docs/CONFORMANCE.md's. The last",
        f"{harnesses} columns are test harnesses (`--harness NAME`, with httpx {HTTPX} unless the column",
        "says otherwise): the same checks in-process, the harness carrying the requests instead of a",
        "socket. What each column ran is listed at the end.",
        "",
        "## Natively",
        "",
        *_table(native, "check"),
        "",
        "**FAIL**: the server breaks the check; n/a: the check cannot apply (reason below); —: not run.",
        "",
        "## With the shim",
        "",
        "Where the shim has a module for the server (`lifespan-state check --shim on`); the other",
        "columns say `—`.",
        "",
        *_table(shimmed, "check"),
        "",
        "## With the middleware only",
        "",
        "The probe wrapped by `LifespanStateMiddleware`, nothing activated (`lifespan-state check",
        "--shim middleware`): what an app gets on a runtime the shim has no module for. The",
        "middleware needs the runtime to run the lifespan; where it does not, the runs below say so.",
        "",
        *_table(middleware, "check"),
        "",
        "## What the runs said",
        "",
    ]
    for server, (records, error) in results.items():
        label = _label(server)
        if error:
            lines.append(f"- **{label}**: {_stable(error)}")
            continue
        for record in records:
            arm = _ARMS.get(record["shim"]) or f"with the shim (mode {record['mode']})"
            notes = [f"{c['id']} {'fails' if c['status'] == 'fail' else 'n/a'}: {_stable(c['detail'])}"
                     for c in record["checks"] if c["status"] != "pass"]
            verdict = "every applicable check passes" if record["passed"] else "fails " + ", ".join(
                _failed(record))
            if record["shim"] == "middleware" and "S1" in _failed(record):
                verdict += (" — the middleware alone cannot reach the spec here: no lifespan runs, so"
                            " there is no run whose state it could hand out")
            lines.append(f"- **{label}** {arm}: {verdict}" + ("." if not notes else ":"))
            lines += [f"  - {note}" for note in notes]
        if server == OWN_HARNESS:
            lines.append(f"- **{label}** with the shim: n/a, it is the shim's own harness.")
        elif not any(r["shim"] == "on" for r in records):
            lines.append(f"- **{label}** with the shim: the shim has no module for {COLUMNS[server].server}.")
    lines += ["", "## What each column ran", ""]
    for column in results:
        c = COLUMNS[column]
        installed = [c.env.requirements()[0], *(r for r in c.env.extra if r not in CLIENTS)]
        lines.append(f"- **{c.label}**: `lifespan-state check {shlex.join(c.target)}` with "
                     + ", ".join(f"`{r}`" for r in installed) + (f". {c.note}" if c.note else ""))
    return "\n".join(lines) + "\n"


def _columns() -> List[str]:
    """Every column of the page, in its order."""
    return list(COLUMNS)


def store(results: Dict[str, Tuple[List[Record], str]]) -> None:
    """Write ``results`` (as :func:`render` takes them) to docs/field.json."""
    data = {column: {"records": records, "error": error} for column, (records, error) in results.items()}
    RESULTS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def stored() -> Dict[str, Tuple[List[Record], str]]:
    """The results of docs/field.json, in the page's column order (as :func:`render` takes them)."""
    data: Dict[str, Dict[str, Any]] = json.loads(RESULTS.read_text())
    order = [column for column in _columns() if column in data] + sorted(set(data) - set(_columns()))
    return {column: (data[column]["records"], data[column]["error"]) for column in order}


def _cells(text: str) -> Dict[Tuple[str, str, str], str]:
    """(section, column, check) -> cell of a rendered page's two tables."""
    cells: Dict[Tuple[str, str, str], str] = {}
    section, header = "", []
    for line in text.splitlines():
        if line.startswith("## "):
            section = line
        elif line.startswith("| check |"):
            header = [c.strip() for c in line.strip("|").split("|")][1:]
        elif line.startswith("| S") and header:
            row = [c.strip() for c in line.strip("|").split("|")]
            for column, cell in zip(header, row[1:]):
                cells[(section, column, row[0].split()[0])] = cell
    return cells


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/field.py", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="run, compare with docs/field.md, write nothing")
    mode.add_argument("--render", action="store_true",
                      help="rewrite docs/field.md from docs/field.json, run nothing")
    parser.add_argument("--servers", help="comma-separated subset of the columns' keys: servers, "
                        f"{', '.join(HARNESSES)} (without --check: the other columns keep their stored "
                        "results)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.render:
        PATH.write_text(render(stored()))
        print(f"wrote {PATH.relative_to(ROOT)} from {RESULTS.relative_to(ROOT)}")
        return 0
    columns = _columns()
    chosen = args.servers.split(",") if args.servers else columns
    for server in chosen:  # environments one by one: uv shares one cache
        with contextlib.suppress(EnvError):  # run_server reports it
            ensure_env(_spec(server))
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        futures = {s: pool.submit(run_server, s) for s in chosen}
        results = {s: f.result() for s, f in futures.items()}
    if not args.check:
        if args.servers and RESULTS.exists():  # a subset: the other columns keep their stored results
            results = {**stored(), **results}
            results = {column: results[column] for column in columns if column in results}
        store(results)
        PATH.write_text(render(results))
        print(f"wrote {RESULTS.relative_to(ROOT)} and {PATH.relative_to(ROOT)}")
        return 0
    committed = _cells(PATH.read_text()) if PATH.exists() else {}

    def stale_lines() -> Dict[str, List[str]]:
        fresh = _cells(render({s: results.get(s, ([], "not run")) for s in columns}))
        found: Dict[str, List[str]] = {}
        for key, cell in fresh.items():
            section, column, check = key
            server = column.split()[0]
            if server in results and not results[server][1] and committed.get(key) != cell:
                found.setdefault(server, []).append(
                    f"{section[3:]}, {column}, {check}: committed {committed.get(key)!r}, now {cell!r}")
        return found

    # A loaded machine can make a server miss a deadline, and it widens some servers' own races
    # (their descriptors' ``field_page`` comments name them). A server that disagrees runs once
    # more (as the matrix job retries a cell); disagreeing twice is a real change.
    for server in stale_lines():
        results[server] = run_server(server)
    stale = [line for lines in stale_lines().values() for line in lines]
    ran = [s for s, (_, error) in results.items() if not error]
    for server, (_, error) in results.items():
        if error:
            print(f"not compared: {_label(server)}: {error}")
    for line in stale:
        print(f"STALE {line}")
    print(f"{len(ran)} of {len(chosen)} columns compared; docs/field.md is "
          + ("stale: run python tools/field.py" if stale else "current"))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
