"""Activation cost: ``import lifespan_state.auto`` and ``activate()`` in fresh interpreters.

Every sample is a new interpreter of a release's environment (bytecode cached, as deployed);
the timings are taken inside it with ``perf_counter`` around the import or call alone, so the
interpreter's own start-up is not counted. The probes, interleaved round by round:

* ``auto``: ``import lifespan_state.auto`` with nothing else imported;
* ``activate``: ``import lifespan_state`` then ``activate()``, timed separately;
* ``in_server``: the server's own start-up path up to the app import (its descriptor's
  ``bench.startup``: its config loading the app, or its worker modules and then the app module),
  the app module doing ``import lifespan_state.auto`` — this includes patching the already
  imported server;
* ``reference``: ``import asyncio`` alone, to calibrate: how fast this machine imports;
* ``server_import`` / ``server_import_hooked``: importing the server with no shim, and after
  ``activate()`` (the post-import hook patches it then): the difference is the patch cost.

Then ``-X importtime`` attributes the fresh-interpreter import to lifespan_state's own modules,
wrapt, packaging and the standard library, and ``sys.modules`` shows no server was imported.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from lifespan_state._integrations._load import by_name, integrations

from ._system import bench_env, median

__all__ = ["PROBES", "SERVER_PREFIXES", "importtime_breakdown", "measure_activation"]

#: Top-level modules that belong to a server or harness the shim hooks, or to a protocol stack:
#: none may be imported eagerly.
SERVER_PREFIXES = (
    *(i.module for i in integrations() if i.supported),
    "h11",
    "h2",
    "httptools",
    "uvloop",
    "wsproto",
    "websockets",
)

_EAGER = f"[m for m in sys.modules if m.split('.')[0] in {SERVER_PREFIXES!r}]"

PROBES: Dict[str, str] = {
    "auto": f"""
import sys, time, json
t0, c0 = time.perf_counter(), time.process_time()
import lifespan_state.auto
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({{"ms": (t1 - t0) * 1e3, "cpu_ms": (c1 - c0) * 1e3, "eager": {_EAGER}}}))
""",
    "activate": f"""
import sys, time, json
t0, c0 = time.perf_counter(), time.process_time()
import lifespan_state
t1, c1 = time.perf_counter(), time.process_time()
lifespan_state.activate()
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({{"import_ms": (t1 - t0) * 1e3, "activate_ms": (t2 - t1) * 1e3,
                  "import_cpu_ms": (c1 - c0) * 1e3, "activate_cpu_ms": (c2 - c1) * 1e3, "eager": {_EAGER},
                  "waiting": [n for n, s in lifespan_state.status().items() if s.requested]}}))
""",
    # Calibration: the cost of one well-known standard-library import on this machine.
    "reference": """
import time, json
t0, c0 = time.perf_counter(), time.process_time()
import asyncio
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({"ms": (t1 - t0) * 1e3, "cpu_ms": (c1 - c0) * 1e3}))
""",
    "server_import": """
import sys, time, json
t0, c0 = time.perf_counter(), time.process_time()
import {server_modules}
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({{"ms": (t1 - t0) * 1e3, "cpu_ms": (c1 - c0) * 1e3}}))
""",
    "server_import_hooked": """
import sys, time, json
import lifespan_state
lifespan_state.activate()
t0, c0 = time.perf_counter(), time.process_time()
import {server_modules}
t1, c1 = time.perf_counter(), time.process_time()
st = lifespan_state.status()["{server}"]
print(json.dumps({{"ms": (t1 - t0) * 1e3, "cpu_ms": (c1 - c0) * 1e3, "mode": st.mode,
                  "patched": list(st.patched)}}))
""",
    "in_server": """
import sys, time, json
{server_setup}
import lifespan_state
st = lifespan_state.status()["{server}"]
print(json.dumps({{"ms": benchapp.SHIM_IMPORT_SECONDS * 1e3, "cpu_ms": benchapp.SHIM_IMPORT_CPU_SECONDS * 1e3,
                  "mode": st.mode, "patched": list(st.patched)}}))
""",
}

def _run(
    python: Path, code: str, env: Dict[str, str], extra: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *extra, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def _probe(python: Path, code: str, env: Dict[str, str]) -> Dict[str, Any]:
    out = _run(python, code, env)
    if out.returncode != 0:
        raise RuntimeError(f"activation probe failed:\n{out.stderr[-2000:]}")
    result: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
_OURS = ("lifespan_state", "wrapt", "packaging")


def importtime_breakdown(python: Path, env: Dict[str, str]) -> Dict[str, Any]:
    """``-X importtime`` of ``import lifespan_state.auto``: self time by who caused the import.

    The report is a post-order tree (children before their parent, two spaces of indent per
    level). Each standard-library module is charged to the nearest ancestor among lifespan_state,
    wrapt and packaging — e.g. asyncio pulled in by ``wrapt.synchronization`` counts as
    "stdlib via wrapt". Interpreter start-up imports (other roots) are left out.
    """
    out = _run(python, "import lifespan_state.auto", env, ["-X", "importtime"])
    stack: List[Tuple[int, str, int, list, int]] = []  # type: ignore[type-arg]
    for line in out.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if not match:
            continue
        depth = (len(match.group(3)) - 1) // 2
        children: List[Any] = []
        while stack and stack[-1][0] == depth + 1:
            children.insert(0, stack.pop())
        stack.append((depth, match.group(4), int(match.group(1)), children, int(match.group(2))))
    groups: Dict[str, float] = {}
    names: List[str] = []
    heavy: List[Tuple[float, str, str]] = []  # (cumulative ms, stdlib module, which of ours imported it)

    def charge(node: Tuple[int, str, int, list, int], owner: str, parent: str) -> None:  # type: ignore[type-arg]
        _, name, self_us, children, cumulative_us = node
        names.append(name)
        top = name.split(".")[0]
        ours = top in _OURS
        group = top if ours else f"stdlib via {owner}"
        groups[group] = groups.get(group, 0.0) + self_us / 1e3
        if not ours and parent.split(".")[0] in _OURS:
            heavy.append((cumulative_us / 1e3, name, parent))
        for child in children:
            charge(child, top if ours else owner, name)

    for root in stack:
        if root[1].split(".")[0] == "lifespan_state":
            charge(root, "lifespan_state", "")
    servers = [m for m in names if m.split(".")[0] in SERVER_PREFIXES]
    top = [{"module": m, "ms": ms, "imported_by": by} for ms, m, by in sorted(heavy, reverse=True)[:6]]
    return {"groups_ms": groups, "modules": len(names), "server_modules": servers, "heaviest": top}


def measure_activation(python: Path, server: str, runs: int, log: Any, label: str = "") -> Dict[str, Any]:
    """All probes ``runs`` times each, interleaved, in the environment of ``python``."""
    env = bench_env({"BENCH_SHIM": "1"})
    bench = by_name(server).bench
    if bench is None or bench.startup is None:
        raise ValueError(f"{server}: its descriptor has no bench.startup to measure")
    modules, setup = bench.startup.modules, bench.startup.code
    codes = {
        "auto": PROBES["auto"],
        "activate": PROBES["activate"],
        "reference": PROBES["reference"],
        "server_import": PROBES["server_import"].format(server_modules=modules),
        "server_import_hooked": PROBES["server_import_hooked"].format(server_modules=modules, server=server),
        "in_server": PROBES["in_server"].format(server_setup=setup, server=server),
    }
    _probe(python, codes["in_server"], env)  # first run writes the bytecode caches
    samples: Dict[str, List[Dict[str, Any]]] = {name: [] for name in codes}
    for _ in range(runs):
        for name, code in codes.items():
            samples[name].append(_probe(python, code, env))
    breakdowns = [importtime_breakdown(python, env) for _ in range(min(runs, 5))]

    def spread(values: List[float]) -> Dict[str, float]:
        ordered = sorted(values)
        return {
            "median": median(ordered),
            "p10": ordered[len(ordered) // 10],
            "p90": ordered[min(len(ordered) - 1, (len(ordered) * 9) // 10)],
        }

    result: Dict[str, Any] = {
        "python": str(python),
        "label": label or server,
        "server": server,
        "runs": runs,
        "auto_ms": spread([s["ms"] for s in samples["auto"]]),
        "auto_cpu_ms": spread([s["cpu_ms"] for s in samples["auto"]]),
        "import_ms": spread([s["import_ms"] for s in samples["activate"]]),
        "import_cpu_ms": spread([s["import_cpu_ms"] for s in samples["activate"]]),
        "activate_ms": spread([s["activate_ms"] for s in samples["activate"]]),
        "activate_cpu_ms": spread([s["activate_cpu_ms"] for s in samples["activate"]]),
        "reference_ms": spread([s["ms"] for s in samples["reference"]]),
        "reference_cpu_ms": spread([s["cpu_ms"] for s in samples["reference"]]),
        "in_server_ms": spread([s["ms"] for s in samples["in_server"]]),
        "in_server_cpu_ms": spread([s["cpu_ms"] for s in samples["in_server"]]),
        "server_import_ms": spread([s["ms"] for s in samples["server_import"]]),
        "server_import_cpu_ms": spread([s["cpu_ms"] for s in samples["server_import"]]),
        "server_import_hooked_ms": spread([s["ms"] for s in samples["server_import_hooked"]]),
        "server_import_hooked_cpu_ms": spread([s["cpu_ms"] for s in samples["server_import_hooked"]]),
        "eager_after_auto": sorted({m for s in samples["auto"] for m in s["eager"]}),
        "eager_after_activate": sorted({m for s in samples["activate"] for m in s["eager"]}),
        "waiting": samples["activate"][0]["waiting"],
        "hooked_mode": samples["server_import_hooked"][0]["mode"],
        "hooked_patched": samples["server_import_hooked"][0]["patched"],
        "in_server_mode": samples["in_server"][0]["mode"],
        "in_server_patched": samples["in_server"][0]["patched"],
        "importtime": {
            "groups_ms": {
                group: median([b["groups_ms"].get(group, 0.0) for b in breakdowns])
                for group in sorted({g for b in breakdowns for g in b["groups_ms"]})
            },
            "total_ms": median([sum(b["groups_ms"].values()) for b in breakdowns]),
            "modules": breakdowns[0]["modules"],
            "server_modules": sorted({m for b in breakdowns for m in b["server_modules"]}),
            "heaviest": breakdowns[len(breakdowns) // 2]["heaviest"],
        },
    }
    log(
        f"  {result['label']}: auto {result['auto_ms']['median']:.1f} ms "
        f"({result['auto_cpu_ms']['median']:.1f} ms CPU), "
        f"in server {result['in_server_ms']['median']:.1f} ms "
        f"({result['in_server_cpu_ms']['median']:.1f} ms CPU), eager imports {result['eager_after_auto']}"
    )
    return result
