"""Memory: RSS and tracemalloc of a real server with the shim over 100,000 requests.

The app starts tracemalloc at import (``BENCH_MEMORY=1``) and reports RSS and traced memory at
``/__mem``. After a warm-up, wrk runs in short batches until the request count is reached, and the
server is sampled after each batch; growth per 10,000 requests is the least-squares slope of the
samples against the cumulative request count (wrk reports how many requests each batch made).
A negative control (``BENCH_LEAK=1``: the app keeps every request's state) shows that the same
measurement does see a leak of one state copy per request.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

from ._system import Server, bench_env, free_port, wrk
from .e2e import LOAD_CPU, Arm, server_command

__all__ = ["FLAT_RSS_KIB", "FLAT_TRACED_KIB", "MemoryCase", "compare_to_baseline", "run_memory"]

#: "Flat": traced growth below 1 byte per request, RSS growth below 25 bytes per request
#: (allocator arenas and the interpreter's own caches move RSS in steps). Retaining one state copy
#: per request would grow the traced memory by at least ~100 bytes per request.
FLAT_TRACED_KIB = 10.0
FLAT_RSS_KIB = 250.0


@dataclass(frozen=True)
class MemoryCase:
    server: str
    version: str
    protocol: str
    keys: int
    requests: int
    leak: bool = False  # the negative control
    #: False: the same server without the shim, measured the same way: the baseline that tells the
    #: server's own drift (caches, free lists, arenas) from anything the shim adds.
    shim: bool = True
    #: Stop sampling after this long even if ``requests`` is not reached (a loaded machine); the
    #: report then says how many requests were made.
    max_seconds: float = 120.0

    @property
    def title(self) -> str:
        suffix = ", app keeps every state (leak control)" if self.leak else ""
        arm = "shim on" if self.shim else "shim off (baseline)"
        return f"{self.server} {self.version} {self.protocol}, {self.keys} keys, {arm}{suffix}"


def _slope(points: List[Tuple[float, float]]) -> float:
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


def run_memory(case: MemoryCase, pin: bool, log: Callable[[str], None]) -> Dict[str, Any]:
    arm = Arm(case.server, case.version, case.shim)
    port = free_port()
    env = {
        "BENCH_SHIM": "1" if case.shim else "0",
        "BENCH_STATE_KEYS": str(case.keys),
        "BENCH_EXPECT_STATE": "1" if case.shim else "0",
        "BENCH_MEMORY": "1",
        "BENCH_LEAK": "1" if case.leak else "0",
    }
    server = Server(server_command(arm, case.protocol, port, pin), bench_env(env), port, arm.label)
    record: Dict[str, Any] = {"case": case.__dict__, "title": case.title, "error": None}
    cpu = LOAD_CPU if pin else None
    try:
        server.start()
        record["command"] = " ".join(server.command)
        # Warm-up: lazy imports, caches, free lists and the allocator's arenas fill during the first
        # thousands of requests (traced memory climbs by ~100 KiB, then levels); sampling starts after.
        warm_target, warmed, bad = min(10_000, max(1_000, case.requests // 4)), 0, 0
        warm_deadline = time.monotonic() + case.max_seconds / 3
        while warmed < warm_target and time.monotonic() < warm_deadline:
            warm = wrk(port, 8, 1, cpu)
            warmed += warm.requests
            bad += warm.bad
        record["warm_up_requests"] = warmed
        samples: List[Dict[str, float]] = []
        done = 0

        def sample() -> None:
            mem = json.loads(server.get("/__mem"))
            samples.append({"requests": done, "rss": mem["rss"], "traced": mem["traced"]})

        sample()
        deadline = time.monotonic() + case.max_seconds
        while done < case.requests and time.monotonic() < deadline:
            result = wrk(port, 8, 1, cpu)
            done += result.requests
            bad += result.bad
            sample()
        if bad:
            record["error"] = f"{bad} failed responses"
        traced = _slope([(s["requests"], s["traced"]) for s in samples]) * 10_000 / 1024
        rss = _slope([(s["requests"], s["rss"]) for s in samples]) * 10_000 / 1024
        record.update(
            requests=done,
            samples=samples,
            traced_kib_per_10k=traced,
            rss_kib_per_10k=rss,
            traced_start_kib=samples[0]["traced"] / 1024,
            traced_end_kib=samples[-1]["traced"] / 1024,
            rss_start_mib=samples[0]["rss"] / 2**20,
            rss_end_mib=samples[-1]["rss"] / 2**20,
            flat=traced < FLAT_TRACED_KIB and rss < FLAT_RSS_KIB,
        )
        log(
            f"  {case.title}: {done} requests, traced {traced:+.1f} KiB/10k, RSS {rss:+.1f} KiB/10k "
            f"({'flat' if record['flat'] else 'grows'})"
        )
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        log(f"  {case.title}: ERROR {record['error']}\n{server.log_tail()}")
    finally:
        server.close()
    return record


def compare_to_baseline(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Judge each shim-on record against the same server without the shim, measured alike.

    A record is flat when its growth is within the bounds outright, or when what it grows beyond
    its baseline is: the server's own drift is not the shim's. Baseline records are marked and
    do not count towards the target.
    """
    baselines = {
        _same(r): r for r in records if not r["case"]["shim"] and not r["case"]["leak"] and not r["error"]
    }
    for record in records:
        if not record["case"]["shim"]:
            record["baseline"] = True
            continue
        base = baselines.get(_same(record))
        if record["case"]["leak"] or base is None or record.get("requests") is None:
            continue
        extra_traced = record["traced_kib_per_10k"] - base["traced_kib_per_10k"]
        extra_rss = record["rss_kib_per_10k"] - base["rss_kib_per_10k"]
        record.update(extra_traced_kib_per_10k=extra_traced, extra_rss_kib_per_10k=extra_rss)
        if not record["flat"] and extra_traced < FLAT_TRACED_KIB and extra_rss < FLAT_RSS_KIB:
            record["flat"] = True
            record["flat_vs_baseline"] = True
    return records


def _same(record: Dict[str, Any]) -> Tuple[Any, ...]:
    case = record["case"]
    return (case["server"], case["version"], case["protocol"], case["keys"])
