"""End to end: one server release and app, shim off and on, under a real load generator.

Both arms of a row are two server processes pinned to the same CPU (the load generators get the
other one). By default they are loaded *at the same time*, one load generator each: the scheduler
splits the server CPU evenly between the two saturated servers, so their requests/s ratio is the
inverse ratio of their cost per request, and whatever else the machine does in that window slows
both arms alike (on a machine shared with other jobs, sequential runs a few seconds apart differ
by more than the effect measured). ``paired=False`` runs the arms one after the other instead,
alternating the order per round. Each round gives one on/off ratio: a row reports the median
ratio and its spread.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from packaging.version import Version

from lifespan_state._integrations._descriptor import Integration
from lifespan_state._integrations._load import by_name, integrations
from lifespan_state._integrations._tools import Bench, BenchArm
from lifespan_state._versions import mode_for
from tools.envs import EnvSpec, ensure_env
from tools.releases import SERVERS

from ._system import LoadResult, Server, bench_env, cpu_prefix, free_port, h2load, median, wrk

__all__ = ["ROWS", "Arm", "Row", "env_for", "named_release", "run_row", "server_command"]

#: wrk / h2load concurrency: 32 requests in flight either way (h2: 4 connections x 8 streams).
WRK_CONNECTIONS = 32
H2_CONNECTIONS, H2_STREAMS = 4, 8
SERVER_CPU, LOAD_CPU = 1, 0


@dataclass(frozen=True)
class Arm:
    """One server process: a release, with or without ``import lifespan_state.auto``."""

    server: str
    version: str
    shim: bool

    @property
    def label(self) -> str:
        return f"{self.server} {self.version} shim {'on' if self.shim else 'off'}"

    @property
    def has_native_state(self) -> bool:
        entry = mode_for(self.server, Version(self.version))
        return entry is not None and entry.mode != "add"


@dataclass(frozen=True)
class Row:
    """One comparison: ``cand`` against ``base`` (the ratio is cand / base)."""

    key: str
    server: str
    protocol: str  # the server's --http (h11, httptools) or the load's protocol (h1, h2)
    keys: int
    base: Arm
    cand: Arm
    kind: str  # shim: off vs on | noop: native release, shim must do nothing | cross | native-cost | control
    mode: str  # what the shim does on cand's release: add | fix | native
    quick: bool = False
    #: False where the shim's on arm puts nothing in the request path (the descriptor's row says
    #: why), so the per-scope cost predicts nothing for the row.
    per_request: bool = True

    @property
    def title(self) -> str:
        if self.kind == "cross":
            return f"{self.cand.label} vs {self.base.label} ({self.protocol}, {self.keys} keys)"
        if self.kind == "native-cost":
            return (
                f"{self.server} {self.cand.version} (native copy) vs {self.base.version} without state "
                f"({self.protocol}, {self.keys} keys)"
            )
        if self.kind == "control":
            return f"{self.server} {self.base.version} {self.protocol} shim off vs off ({self.keys} keys)"
        return f"{self.server} {self.cand.version} {self.protocol}, {self.keys} keys"

    @property
    def load_tool(self) -> str:
        return "h2load" if self.protocol == "h2" else "wrk"


def _pair(
    server: str, version: str, protocol: str, keys: int, mode: str, quick: bool = False,
    per_request: bool = True,
) -> Row:  # fmt: skip
    return Row(
        key=f"{server}-{version}-{protocol}-{keys}",
        server=server,
        protocol=protocol,
        keys=keys,
        base=Arm(server, version, False),
        cand=Arm(server, version, True),
        kind="noop" if mode == "native" else "shim",
        mode=mode,
        quick=quick,
        per_request=per_request,
    )


def _versus(server: str, protocol: str, keys: int, base: Arm, cand: Arm, kind: str, mode: str) -> Row:
    key = f"{server}-{kind}-{protocol}-{keys}"
    return Row(key, server, protocol, keys, base, cand, kind, mode)


def _control(server: str, version: str, protocol: str) -> Row:
    """Two identical servers without the shim: the noise floor of the machine for that server."""
    off = Arm(server, version, False)
    return _versus(server, protocol, 4, off, off, "control", "none")


def named_release(integration: Integration, named: str) -> str:
    """The release a descriptor's benchmark facts name: a version as it is, ``newest`` (the newest
    tested), or a named release of ``tools.releases.SERVERS`` (``last_stateless``, ``buggy``, ...)."""
    if named[:1].isdigit():
        return named
    if named == "newest":
        return integration.newest_tested
    return str(getattr(SERVERS[integration.name], named))


def _rows(integration: Integration, bench: Bench) -> List[Row]:
    """One server's rows: its off/on pairs, its comparisons, then its control row."""
    name = integration.name

    def arm(spec: BenchArm) -> Arm:
        return Arm(name, named_release(integration, spec.release), spec.shim)

    rows = [
        _pair(name, named_release(integration, r.release), r.protocol, r.keys, r.mode, quick=r.quick,
              per_request=r.per_request)
        for r in bench.rows
    ]
    rows += [_versus(name, c.protocol, c.keys, arm(c.base), arm(c.cand), c.kind, c.mode)
             for c in bench.comparisons]
    if bench.control:
        control_release, protocol = bench.control
        rows.append(_control(name, named_release(integration, control_release), protocol))
    return rows


#: Every benchmarked server's rows (its descriptor's ``bench``), servers by rank.
ROWS: Tuple[Row, ...] = tuple(row for i in integrations() if i.bench for row in _rows(i, i.bench))


def _bench(server: str) -> Bench:
    bench = by_name(server).bench
    if bench is None:
        raise ValueError(f"no benchmark command for {server}")
    return bench


def env_for(server: str, version: str) -> Path:
    """The cached environment of one release, with the fast extras production installs use."""
    return ensure_env(EnvSpec(server, version, python="3.11", extra=_bench(server).extras))


def server_command(arm: Arm, protocol: str, port: int, pin: bool) -> List[str]:
    """The server's own command line (its descriptor's ``bench.command``): one process serving
    requests, on uvloop where it can."""
    bench = _bench(arm.server)
    values = {"python": str(env_for(arm.server, arm.version) / "bin" / "python"), "host": "127.0.0.1",
              "port": str(port), "protocol": protocol}
    words = list(cpu_prefix(SERVER_CPU if pin else None))
    for word in bench.command.split():
        if word == "{release_options}":
            since = bench.options_since
            words += [option for first, option in since if Version(arm.version) >= Version(first)]
        else:
            words.append(word.format(**values))
    return words


def arm_env(arm: Arm, keys: int) -> Dict[str, str]:
    return {
        "BENCH_SHIM": "1" if arm.shim else "0",
        "BENCH_STATE_KEYS": str(keys),
        # A request without the lifespan's keys answers 500, which fails the row: an "on" arm
        # where the shim silently did nothing cannot pass for a measurement.
        "BENCH_EXPECT_STATE": "1" if (arm.shim or arm.has_native_state) else "0",
    }


def _loader(row: Row, pin: bool) -> Callable[[int, int], LoadResult]:
    cpu = LOAD_CPU if pin else None
    if row.protocol == "h2":
        return lambda port, seconds: h2load(port, H2_CONNECTIONS, H2_STREAMS, seconds, cpu)
    return lambda port, seconds: wrk(port, WRK_CONNECTIONS, seconds, cpu)


def _check_shim(arm: Arm, row: Row, server: Server) -> Dict[str, Any]:
    """What the shim says in the serving process; raises when an arm is not what the row claims.

    A fix-mode release has a ``state`` with the lifespan's keys even unpatched, so the app's state
    check alone cannot tell an "on" arm where the shim did nothing from one where it works.
    """
    status: Dict[str, Any] = json.loads(server.get("/__shim"))
    mine = status.get(arm.server)
    if not arm.shim:
        if status:
            raise RuntimeError(f"{arm.label}: the shim is loaded: {status}")
    elif mine is None or mine["mode"] != row.mode:
        raise RuntimeError(f"{arm.label}: the shim reports {mine}, the row expects mode {row.mode}")
    elif (row.mode == "native") == bool(mine["patched"]):
        raise RuntimeError(f"{arm.label}: mode {row.mode} with patched {mine['patched']}")
    return status


def _spread(values: List[float]) -> Tuple[float, float, float]:
    return median(values), min(values), max(values)


def _paired_rounds(
    servers: List[Server],
    load: Callable[[int, int], LoadResult],
    rounds: int,
    seconds: int,
    runs: Dict[str, List[LoadResult]],
    cpu: Dict[str, List[float]],
) -> None:
    """Both arms under load at the same time, sharing the server CPU.

    The scheduler gives the two (single-threaded, saturated) servers equal CPU time, so their
    requests/s ratio is the inverse ratio of their cost per request — and whatever else the
    machine does in that window slows both arms alike, which sequential runs cannot promise.
    """
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda s: load(s.port, 1), servers))  # warm-up
        for index in range(rounds):
            before = [s.cpu_seconds() for s in servers]
            # Alternate which load generator starts first, should starting first be an advantage.
            order = [0, 1] if index % 2 == 0 else [1, 0]
            futures = {which: pool.submit(load, servers[which].port, seconds) for which in order}
            results = [futures[0].result(), futures[1].result()]
            for which, name in enumerate(("base", "cand")):
                runs[name].append(results[which])
                used = servers[which].cpu_seconds() - before[which]
                cpu[name].append(used / max(results[which].requests, 1))


def run_row(
    row: Row, rounds: int, seconds: int, pin: bool, log: Callable[[str], None], paired: bool = True
) -> Dict[str, Any]:
    """Measure one row; returns a JSON-able record (``error`` set when the row is invalid)."""
    load = _loader(row, pin)
    servers: List[Server] = []
    record: Dict[str, Any] = {
        "row": asdict(row),
        "title": row.title,
        "load_tool": row.load_tool,
        "rounds": rounds,
        "seconds": seconds,
        "paired": paired,
        "error": None,
    }
    try:
        for arm in (row.base, row.cand):
            port = free_port()
            server = Server(
                server_command(arm, row.protocol, port, pin),
                bench_env(arm_env(arm, row.keys)),
                port,
                arm.label,
            )
            servers.append(server)
        with ThreadPoolExecutor(max_workers=2) as starting:  # both arms start up side by side
            list(starting.map(Server.start, servers))
        record["commands"] = [" ".join(s.command) for s in servers]
        record["shim_status"] = [_check_shim(a, row, s) for a, s in zip((row.base, row.cand), servers)]
        runs: Dict[str, List[LoadResult]] = {"base": [], "cand": []}
        cpu: Dict[str, List[float]] = {"base": [], "cand": []}
        if paired:
            _paired_rounds(servers, load, rounds, seconds, runs, cpu)
        else:
            for server in servers:  # warm-up: connections, caches, branch predictors
                load(server.port, 1)
            for index in range(rounds):
                order = (0, 1) if index % 2 == 0 else (1, 0)
                for which in order:
                    name = ("base", "cand")[which]
                    before = servers[which].cpu_seconds()
                    result = load(servers[which].port, seconds)
                    runs[name].append(result)
                    cpu[name].append((servers[which].cpu_seconds() - before) / max(result.requests, 1))
        bad = {name: sum(r.bad for r in results) for name, results in runs.items()}
        if any(bad.values()):
            record["error"] = (
                f"failed responses (base {bad['base']}, cand {bad['cand']}): see the arm's state check"
            )
        ratios = [c.rps / b.rps for b, c in zip(runs["base"], runs["cand"])]
        # Server CPU per request, base over cand: the throughput ratio a machine of our own would
        # show (clock ticks are 10 ms, hence runs of whole seconds).
        cpu_ratios = [b / c for b, c in zip(cpu["base"], cpu["cand"]) if b > 0 and c > 0]
        p99_ratios = [c.p99_ms / b.p99_ms for b, c in zip(runs["base"], runs["cand"]) if b.p99_ms > 0]
        record.update(
            base_rps=median([r.rps for r in runs["base"]]),
            cand_rps=median([r.rps for r in runs["cand"]]),
            base_rps_range=[min(r.rps for r in runs["base"]), max(r.rps for r in runs["base"])],
            cand_rps_range=[min(r.rps for r in runs["cand"]), max(r.rps for r in runs["cand"])],
            base_p99_ms=median([r.p99_ms for r in runs["base"]]),
            cand_p99_ms=median([r.p99_ms for r in runs["cand"]]),
            ratio=_spread(ratios),
            cpu_ratio=_spread(cpu_ratios) if cpu_ratios else None,
            base_cpu_us=median(cpu["base"]) * 1e6,
            cand_cpu_us=median(cpu["cand"]) * 1e6,
            p99_ratio=_spread(p99_ratios) if p99_ratios else None,
            ratios=ratios,
            requests=sum(r.requests for rs in runs.values() for r in rs),
        )
        log(
            f"  {row.title}: {record['base_rps']:.0f} -> {record['cand_rps']:.0f} req/s, "
            f"ratio {record['ratio'][0]:.3f} [{record['ratio'][1]:.3f}-{record['ratio'][2]:.3f}], "
            f"cpu/request {record['base_cpu_us']:.1f} -> {record['cand_cpu_us']:.1f} us"
        )
    except Exception as exc:  # one broken row must not lose the others' results
        record["error"] = f"{type(exc).__name__}: {exc}"
        log(f"  {row.title}: ERROR {record['error']}")
        for server in servers:
            print(f"--- {server.label} log ---\n{server.log_tail()}", file=sys.stderr)
    finally:
        for server in servers:
            server.close()
    return record


def select_rows(quick: bool, only: Optional[List[str]]) -> List[Row]:
    rows = [r for r in ROWS if r.quick] if quick else list(ROWS)
    if only:
        rows = [r for r in ROWS if any(pattern in r.key for pattern in only)]
    return rows
