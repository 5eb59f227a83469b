"""BENCHMARKS.md and its chart, rendered from the stored results of each section (``store.view``);
nothing here is typed by hand, and each section says when and how it was measured."""

from __future__ import annotations

import functools
import html
from typing import Any, Callable, Dict, List, Optional, Tuple

from lifespan_state._integrations._load import integrations

from .e2e import ROWS, named_release
from .memory import FLAT_RSS_KIB, FLAT_TRACED_KIB

__all__ = [
    "IMPORT_TARGET_MS",
    "THROUGHPUT_TARGET",
    "ratio_text",
    "render_markdown",
    "render_svg",
    "summary_line",
    "verdicts",
]

THROUGHPUT_TARGET = 0.98
#: Row kinds that compare other things than one release with the shim off and on.
_COMPARISONS = ("control", "cross", "native-cost")
IMPORT_TARGET_MS = 10.0
#: The contract issue's bound for a fresh ``import lifespan_state.auto`` under ``-X importtime``.
IMPORTTIME_TARGET_MS = 25.0
_SECTION_NAMES = {"micro": "Per scope", "activation": "Activation", "e2e": "End to end", "memory": "Memory"}


def yardstick() -> str:
    """The server every other server's worst row is compared with (its ``bench.yardstick``)."""
    return next((i.name for i in integrations() if i.bench and i.bench.yardstick), "")


def native_copy() -> Tuple[str, str]:
    """``(server, release)`` whose own scope construction the per-scope *native copy* times, from
    that release on (its ``bench.native_copy``)."""
    for i in integrations():
        if i.bench and i.bench.native_copy:
            return i.name, named_release(i, i.bench.native_copy)
    return "a server copying per request", ""


def _five_args() -> str:
    """The server that calls the app with five arguments (its ``bench.five_args``), in brackets."""
    return "".join(f" ({i.name})" for i in integrations() if i.bench and i.bench.five_args)


def _rows_legend() -> str:
    """What each row kind compares, then what the servers' descriptors say about their rows."""
    by_kind = {row.kind: row for row in reversed(ROWS)}  # the first row of each kind
    cross, cost = by_kind.get("cross"), by_kind.get("native-cost")
    kinds = [
        'Rows: *add* — a release without lifespan state (the off arm has no `scope["state"]` at all, so the '
        "on arm pays for the whole feature: one copy per request)",
        "*fix* — a release that copies once per connection (the shim adds a per-request copy)",
        "*native* — a correct release: the shim installs nothing, both arms run the server's own "
        "`app_state.copy()`",
    ]
    if cross:
        kinds.append(f"*cross* — {cross.cand.server} {cross.cand.version} with the shim against "
                     f"{cross.base.server} {cross.base.version}'s native copy (different releases: other "
                     "code differs too)")
    kinds.append("*control* — two identical off servers, the noise floor of this machine")
    if cost:
        kinds.append("*native-cost* — what the same per-request copy costs when the server does it itself "
                     f"({cost.server} {cost.cand.version} against {cost.base.version} without any state)")
    notes = sorted((i.bench.note_order, i.bench.note) for i in integrations() if i.bench and i.bench.note)
    return " ".join(["; ".join(kinds) + ".", *(note for _, note in notes)])


def _f(value: Optional[float], digits: int = 0) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(spread: Optional[List[float]]) -> str:
    if not spread:
        return "-"
    return f"**{spread[0]:.3f}** ({spread[1]:.3f}-{spread[2]:.3f})"


def ratio_text(spread: List[float]) -> str:
    """``median (min-max)`` of a ratio spread."""
    return f"{spread[0]:.3f} ({spread[1]:.3f}-{spread[2]:.3f})"


def _scope_row(micro: Dict[str, Any], keys: int) -> Optional[Dict[str, Any]]:
    for run in micro.get("runs", []):
        if run["python"].startswith("3.11"):
            row: Dict[str, Any] = run["sizes"][str(keys)]
            return row
    return None


def expected_ratio(record: Dict[str, Any], micro: Dict[str, Any]) -> Optional[float]:
    """The on/off ratio the per-scope cost predicts: 1 / (1 + added time x requests per second)."""
    row = record["row"]
    if row["kind"] != "shim" or not row.get("per_request", True) or not record.get("base_rps"):
        return None
    scope = _scope_row(micro, row["keys"])
    if scope is None:
        return None
    return 1.0 / (1.0 + float(scope["added_ns"]) * 1e-9 * float(record["base_rps"]))


def verdicts(results: Dict[str, Any]) -> Dict[str, Any]:
    """Target by target: met or not, with the numbers that decide it."""
    out: Dict[str, Any] = {}
    e2e = [r for r in results.get("e2e", []) if r["row"]["kind"] in ("shim", "noop")]
    valid = [r for r in e2e if not r["error"]]
    if e2e:
        worst = min(valid, key=lambda r: r["ratio"][0]) if valid else None
        with_cpu = [r for r in valid if r.get("cpu_ratio")]
        cpu_worst = min(with_cpu, key=lambda r: r["cpu_ratio"][0]) if with_cpu else None
        out["throughput"] = {
            "met": bool(valid)
            and len(valid) == len(e2e)
            and all(r["ratio"][0] >= THROUGHPUT_TARGET for r in valid),
            "worst": worst["title"] if worst else None,
            "worst_ratio": worst["ratio"][0] if worst else None,
            "cpu_worst": cpu_worst["title"] if cpu_worst else None,
            "cpu_worst_ratio": cpu_worst["cpu_ratio"][0] if cpu_worst else None,
            "misses": [r["title"] for r in valid if r["ratio"][0] < THROUGHPUT_TARGET],
            "cpu_misses": [
                r["title"] for r in valid if r.get("cpu_ratio") and r["cpu_ratio"][0] < THROUGHPUT_TARGET
            ],
            "errors": [r["title"] for r in e2e if r["error"]],
        }
    micro = results.get("micro")
    if micro:
        rows = [(run["python"], keys, row) for run in micro["runs"] for keys, row in run["sizes"].items()]
        out["scope"] = {
            "met": all(row["met"] for _, _, row in rows),
            "misses": [f"Python {py}, {keys} keys" for py, keys, row in rows if not row["met"]],
        }
    act = results.get("activation")
    if act:
        main = act[0]
        wall = main["auto_ms"]["median"]
        cpu = main["auto_cpu_ms"]["median"]
        out["activation"] = {
            "met": wall < IMPORT_TARGET_MS,
            "cpu_met": cpu < IMPORT_TARGET_MS,
            "wall_ms": wall,
            "cpu_ms": cpu,
            # The -X importtime total of the wrapt 2.x environments: every module imported, self
            # times summed (the cumulative time of the import tree rooted at lifespan_state).
            "importtime": [
                (a["label"], importtime_total(a)) for a in act if "wrapt 2" in a["label"]
            ],
            "eager": sorted(
                {m for a in act for m in a["eager_after_auto"] + a["importtime"]["server_modules"]}
            ),
        }
    mem = [m for m in results.get("memory", []) if not m["case"]["leak"] and not m.get("baseline")]
    if mem:
        out["memory"] = {"met": all(m.get("flat") and not m["error"] for m in mem)}
        control = [m for m in results.get("memory", []) if m["case"]["leak"]]
        out["memory"]["control_detected"] = all(m.get("flat") is False for m in control) if control else None
    return out


#: A row whose slowest round, in either arm, served less than this share of its fastest one: the
#: server or its load generator stalled in some rounds, which pairing does not make comparable.
UNSTABLE_SHARE = 0.25


def unstable(record: Dict[str, Any]) -> bool:
    """True when some rounds of either arm stalled (see :data:`UNSTABLE_SHARE`)."""
    spans = [record.get("base_rps_range"), record.get("cand_rps_range")]
    return any(span and span[1] > 0 and span[0] < UNSTABLE_SHARE * span[1] for span in spans)


def importtime_total(act: Dict[str, Any]) -> float:
    """``-X importtime`` total of a fresh ``import lifespan_state.auto`` (median of its samples;
    every stored activation section has it: ``total_ms`` came with the store's schema 1)."""
    return float(act["importtime"]["total_ms"])


def per_server(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Each server's shim-on rows against the throughput bound, next to its own noise floor."""
    e2e = results.get("e2e", [])
    out = []
    for server in dict.fromkeys(r["row"]["server"] for r in e2e):
        rows = [r for r in e2e if r["row"]["server"] == server and r["row"]["kind"] in ("shim", "noop")]
        if not rows:
            continue
        valid = [r for r in rows if not r["error"]]
        control = [
            r
            for r in e2e
            if r["row"]["server"] == server and r["row"]["kind"] == "control" and not r["error"]
        ]
        worst = min(valid, key=lambda r: r["ratio"][0]) if valid else None
        with_cpu = [r for r in valid if r.get("cpu_ratio")]
        cpu_worst = min(with_cpu, key=lambda r: r["cpu_ratio"][0]) if with_cpu else None
        out.append(
            {
                "server": server,
                "rows": len(rows),
                "errors": [r["title"] for r in rows if r["error"]],
                "worst": worst,
                "cpu_worst": cpu_worst,
                "control": control[0] if control else None,
                "within": bool(valid) and len(valid) == len(rows)
                and all(r["ratio"][0] >= THROUGHPUT_TARGET for r in valid),
                "cpu_within": bool(with_cpu) and len(with_cpu) == len(rows)
                and all(r["cpu_ratio"][0] >= THROUGHPUT_TARGET for r in with_cpu),
            }
        )
    return out


def summary_line(results: Dict[str, Any]) -> str:
    v = verdicts(results)
    parts = []
    e2e = [r for r in results.get("e2e", []) if r["row"]["kind"] == "shim" and not r["error"]]
    if e2e:
        ratios = [r["ratio"][0] for r in e2e]
        cpu = [r["cpu_ratio"][0] for r in e2e if r.get("cpu_ratio")]
        text = f"throughput with the shim {min(ratios):.2f}-{max(ratios):.2f}x of without"
        if cpu:
            text += f" (server CPU per request: {min(cpu):.2f}-{max(cpu):.2f}x)"
        parts.append(text)
    micro = results.get("micro")
    if micro:
        row = _scope_row(micro, 4)
        if row:
            parts.append(
                f"{row['added_ns']:.0f} ns added per request (4-key state, Python 3.11; "
                f"the state copy alone: {row['copy_ns']:.0f} ns)"
            )
        if row and "middleware_added_ns" in row:
            parts.append(f"`LifespanStateMiddleware` {row['middleware_added_ns']:.0f} ns per request, on a "
                         "native server too")
    if "activation" in v:
        act = results["activation"][0]
        eager = "no server imported eagerly" if not v["activation"]["eager"] else "servers imported eagerly"
        parts.append(
            f"`import lifespan_state.auto` {act['auto_ms']['median']:.1f} ms in a fresh interpreter, "
            f"{act['in_server_ms']['median']:.1f} ms inside a server start-up, {eager}"
        )
    if "memory" in v:
        counts = [m.get("requests") or 0 for m in results["memory"] if not m["case"]["leak"]]
        count = f"{max(counts):,} requests" if counts else "the run"
        parts.append(f"memory flat over {count}" if v["memory"]["met"] else f"memory NOT flat over {count}")
    machine = f"{results['machine']['cpu']}, {results['machine']['cores']} cores"
    return f"Benchmarks ({machine}): " + "; ".join(parts) + " — see BENCHMARKS.md."


def render_svg(results: Dict[str, Any]) -> str:
    """Grouped horizontal bars: requests/s off and on per row, whiskers from min to max."""
    rows = [r for r in results.get("e2e", []) if not r["error"] and r["row"]["kind"] in ("shim", "noop")]
    bar, gap, left, width = 14, 14, 330, 420
    height = 60 + len(rows) * (2 * bar + gap) + 30
    peak = max([r["base_rps_range"][1] for r in rows] + [r["cand_rps_range"][1] for r in rows] + [1.0])
    scale = width / peak
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 260}" height="{height}" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">Throughput, shim off vs on '
        f"(requests/s, median of {rows[0]['rounds'] if rows else 0} interleaved rounds; "
        "whiskers: min-max)</text>",
        '<rect x="10" y="32" width="12" height="12" fill="#9e9e9e"/><text x="27" y="43">shim off</text>',
        '<rect x="100" y="32" width="12" height="12" fill="#1f77b4"/><text x="117" y="43">shim on</text>',
    ]
    y = 60
    for r in rows:
        out.append(
            f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{html.escape(r["title"])}</text>'
        )
        for offset, (value, span, colour) in enumerate(
            [(r["base_rps"], r["base_rps_range"], "#9e9e9e"), (r["cand_rps"], r["cand_rps_range"], "#1f77b4")]
        ):
            top = y + offset * bar
            out.append(
                f'<rect x="{left}" y="{top}" width="{value * scale:.1f}" height="{bar - 2}" fill="{colour}"/>'
            )
            mid = top + (bar - 2) / 2
            out.append(
                f'<line x1="{left + span[0] * scale:.1f}" x2="{left + span[1] * scale:.1f}" '
                f'y1="{mid}" y2="{mid}" '
                'stroke="black" stroke-width="1"/>'
            )
        out.append(
            f'<text x="{left + max(r["base_rps_range"][1], r["cand_rps_range"][1]) * scale + 6:.1f}" '
            f'y="{y + bar + 4}">{r["base_rps"]:,.0f} / {r["cand_rps"]:,.0f} req/s, '
            f"on/off {r['ratio'][0]:.3f}</text>"
        )
        y += 2 * bar + gap
    for tick in range(0, int(peak) + 1, max(1000, int(peak / 5) // 1000 * 1000)):
        x = left + tick * scale
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="55" y2="{y}" stroke="#dddddd"/>')
        out.append(f'<text x="{x:.1f}" y="{y + 14}" text-anchor="middle">{tick:,}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _met(flag: Optional[bool]) -> str:
    return "met" if flag else "**missed**" if flag is not None else "-"


def render_markdown(results: Dict[str, Any], chart_path: str) -> str:
    v = verdicts(results)
    m = results["machine"]
    lines: List[str] = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python -m tools.bench` — do not edit by hand; run the command again. -->",
        "",
        summary_line(results),
        "",
        *_runs_table(results),
        "## Targets",
        "",
        "| target | result | verdict |",
        "|---|---|---|",
    ]
    if "throughput" in v:
        t = v["throughput"]
        lines.append(
            f"| throughput on/off ≥ {THROUGHPUT_TARGET} everywhere (median of interleaved rounds) | worst: "
            f"{_f(t['worst_ratio'], 3)} ({t['worst']}) | {_met(t['met'])} |"
        )
        lines.append(
            f"| the same from server CPU time per request (off/on ≥ {THROUGHPUT_TARGET}; not disturbed by "
            f"other jobs' load) | worst: {_f(t['cpu_worst_ratio'], 3)} ({t['cpu_worst']}) | "
            f"{_met(not t['cpu_misses'] and not t['errors'])} |"
        )
    if "scope" in v:
        lines.append(
            "| time added per scope ≤ 2 x (`dict.copy()` of the state + one Python call) | "
            f"{'all within' if v['scope']['met'] else 'missed: ' + ', '.join(v['scope']['misses'])} | "
            f"{_met(v['scope']['met'])} |"
        )
    if "activation" in v:
        a = v["activation"]
        lines.append(
            f"| `import lifespan_state.auto` + `activate()` < {IMPORT_TARGET_MS:.0f} ms "
            "(fresh interpreter) | "
            f"{a['wall_ms']:.1f} ms wall, {a['cpu_ms']:.1f} ms CPU | {_met(a['met'])} |"
        )
        for label, total in a["importtime"]:
            lines.append(
                f"| `import lifespan_state.auto` < {IMPORTTIME_TARGET_MS:.0f} ms under "
                f"`python -X importtime` (fresh interpreter, {label}) | {total:.1f} ms | "
                f"{_met(total < IMPORTTIME_TARGET_MS)} |"
            )
        lines.append(
            f"| no server imported eagerly | server modules after the import: {a['eager'] or 'none'} | "
            f"{_met(not a['eager'])} |"
        )
    if "memory" in v:
        control = v["memory"]["control_detected"]
        counts = ", ".join(f"{m.get('requests') or 0:,}" for m in results["memory"] if not m["case"]["leak"])
        lines.append(
            f"| memory flat over 100,000 requests (this run: {counts}; "
            f"traced < {FLAT_TRACED_KIB:.0f} KiB, RSS < "
            f"{FLAT_RSS_KIB:.0f} KiB per 10,000 requests) | leak control detected: "
            f"{'yes' if control else 'no' if control is not None else 'not run'} | "
            f"{_met(v['memory']['met'])} |"
        )
    lines += ["", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v_} |" for k, v_ in m.items()]
    others = [
        _SECTION_NAMES[name] for name, run in results["runs"].items() if run.get("machine") not in (None, m)
    ]
    pins = ", ".join(
        f"{_SECTION_NAMES[name].lower()}: {'on' if run['pin'] else 'off'}"
        for name, run in results["runs"].items()
        if name in ("e2e", "memory")
    )
    lines += [
        "",
        *(
            [f"Measured on another machine (or another tool version): {', '.join(others)}.", ""]
            if others
            else []
        ),
        "Servers run on CPU 1 and the load generator on CPU 0 (`taskset`) when pinning is on ("
        + (pins or "-")
        + "). The machine is shared with other jobs, so "
        "the numbers are noisy: each comparison interleaves its arms and reports the median and the "
        "spread (min-max) of the per-round ratios.",
        "",
    ]
    sections: List[Tuple[str, str, Callable[[Dict[str, Any]], List[str]]]] = [
        ("e2e", "End to end", functools.partial(_e2e_section, chart_path=chart_path)),
        ("micro", "Per scope", _micro_section),
        ("activation", "Activation", _activation_section),
        ("memory", "Memory", _memory_section),
    ]
    for name, title, section in sections:
        if results.get(name):  # a measurement that did not run has no section
            lines += [*_heading(results, name, title), *section(results)]
    lines += _notes_section(results, v)
    return "\n".join(lines) + "\n"


def _runs_table(results: Dict[str, Any]) -> List[str]:
    """When, at which commit and by which command each section was measured."""
    runs = results["runs"]
    lines = [
        "Each section is measured by its own run of the command and stored in "
        "[`tools/bench/results.json`](tools/bench/results.json); a run replaces the sections it measures "
        "and this report is rendered from the stored results of all of them:",
        "",
        "| section | measured (UTC) | commit | command | minutes | load average before / after |",
        "|---|---|---|---|---:|---|",
    ]
    for name, run in runs.items():
        lines.append(
            f"| {_SECTION_NAMES[name]} | {run['started']} - {run['finished']} | {run['commit']} | "
            f"`{run['command']}` | {run['elapsed_s'] / 60:.1f} | {run['load_before']} / {run['load_after']} |"
        )
    return [*lines, ""]


def _heading(results: Dict[str, Any], name: str, title: str) -> List[str]:
    """A section's title and when and where its measurement ``name`` ran."""
    run = results["runs"][name]
    measured = f"*Measured {run['started']} - {run['finished']} UTC at commit {run['commit']}.*"
    return [f"## {title}", "", measured, ""]


def _worst_cell(record: Optional[Dict[str, Any]], ratio: str) -> str:
    """A per-server worst row: its ``ratio`` and title, flagged when its rounds stalled."""
    if not record:
        return "-"
    flag = ", unstable rounds" if unstable(record) else ""
    return f"{ratio_text(record[ratio])} ({record['title']}{flag})"


def _per_server_lines(results: Dict[str, Any]) -> List[str]:
    servers = per_server(results)
    name = yardstick()
    ref = next((s for s in servers if s["server"] == name), None)
    ref_ratio = ref["worst"]["ratio"][0] if ref and ref["worst"] else None
    ref_cpu = ref["cpu_worst"]["cpu_ratio"][0] if ref and ref["cpu_worst"] else None
    lines = [
        f"Per server, against the same bound as every row (median on/off ≥ {THROUGHPUT_TARGET}, the "
        "report's throughput target), and the same from server CPU time per request; *noise floor* is "
        f"the server's own control row (two identical servers without the shim); *≥ {name}'s worst*: "
        f"whether the server's worst ratio and worst CPU ratio are no lower than {name}'s in this run "
        + (f"({ref_ratio:.3f} and {ref_cpu:.3f})" if ref_ratio and ref_cpu else f"(no {name} rows)")
        + ":",
        "",
        "| server | rows | worst ratio | worst CPU ratio | noise floor (control) "
        f"| within {THROUGHPUT_TARGET} | by CPU time | ≥ {name}'s worst "
        "| server CPU per request off → on (worst CPU row) |",
        "|---|---:|---|---|---|---|---|---|---|",
    ]
    for s in servers:
        worst, cpu, control = s["worst"], s["cpu_worst"], s["control"]
        lines.append(
            f"| {s['server']} | {s['rows']} | {_worst_cell(worst, 'ratio')} | "
            + f"{_worst_cell(cpu, 'cpu_ratio')} | "
            + (f"{ratio_text(control['ratio'])}" if control else "-")
            + f" | {'yes' if s['within'] else '**no**'}"
            + (f" ({len(s['errors'])} invalid)" if s["errors"] else "")
            + f" | {'yes' if s['cpu_within'] else '**no**'} | "
            + (
                ("yes" if worst["ratio"][0] >= ref_ratio and cpu["cpu_ratio"][0] >= ref_cpu else "**no**")
                if worst and cpu and ref_ratio and ref_cpu
                else "-"
            )
            + " | "
            + (f"{cpu['base_cpu_us']:.1f} → {cpu['cand_cpu_us']:.1f} µs" if cpu else "-")
            + " |"
        )
    return [*lines, ""]


def _commands(e2e: List[Dict[str, Any]]) -> List[str]:
    """The two server commands of each server's first row that started."""
    seen: Dict[str, List[str]] = {}
    for r in e2e:
        server = r["row"]["server"]
        if server not in seen and r.get("commands"):
            seen[server] = r["commands"]
    return [line for commands in seen.values() for line in commands] or ["(not started)"]


def _e2e_section(results: Dict[str, Any], chart_path: str) -> List[str]:
    e2e = results["e2e"]
    micro = results.get("micro", {})
    first = e2e[0]
    lines = [
        f"Each row: two server processes of the same release serving the same app "
        f"([`tools/bench/benchapp.py`](tools/bench/benchapp.py): pure ASGI, a 2-byte body, reads one key "
        f'of `scope["state"]`), one without and one with `import lifespan_state.auto` in the app module '
        f"(`BENCH_SHIM=1`). {first['rounds']} rounds of {first['seconds']} s. "
        + (
            "Both arms are loaded at the same time, one load generator each, and share CPU 1: the scheduler "
            "gives the two saturated servers equal CPU time, so the requests/s ratio is the inverse ratio of "
            "their cost per request, and other jobs' load in that window hits both arms alike (requests/s "
            "are therefore those of half a CPU). "
            if first.get("paired")
            else "The arms run one after the other, order alternating per round. "
        )
        + "HTTP/1.1 load: `wrk -t1 -c32 -dNs --latency`; HTTP/2 load: `h2load -t1 -c4 -m8 -D N` (cleartext, "
        "prior knowledge; p99 from its per-request log). An arm that should see the lifespan's keys "
        "answers 500 when it does not, and any failed response invalidates the row; before the load, each "
        "arm is asked what `lifespan_state.status()` says in the serving process (the app's `/__shim`): "
        "an on arm whose server is not in the row's mode (or, outside native mode, has nothing patched), "
        "or an off arm with the shim loaded, invalidates the row too.",
        "",
        "*ratio* is on/off requests/s per round (median, min-max); *CPU ratio* is the same from the server's "
        "CPU time per request (off/on: > 1 means cheaper with the shim), which time spent descheduled "
        "by other "
        "jobs does not disturb; *expected* is what the per-scope cost below predicts: "
        "1 / (1 + added ns x off requests/s).",
        "",
        "| comparison | mode | off (base) req/s | on (compared) req/s | ratio | CPU ratio | expected "
        "| p99 off / on (ms) "
        "| p99 ratio |",
        "|---|---|---:|---:|---|---|---:|---:|---|",
    ]
    for r in e2e:
        row = r["row"]
        if r["error"] and not r.get("base_rps"):
            lines.append(f"| {r['title']} | {row['mode']} | error: {r['error']} | | | | | | |")
            continue
        exp = expected_ratio(r, micro)
        title = r["title"] + (f" — **invalid: {r['error']}**" if r["error"] else "")
        if unstable(r):
            title += " — *unstable rounds*"
        lines.append(
            f"| {title} | {row['kind'] if row['kind'] in _COMPARISONS else row['mode']} | "
            f"{_f(r['base_rps'])} | "
            f"{_f(r['cand_rps'])} | {_ratio(r['ratio'])} | {_ratio(r.get('cpu_ratio'))} | "
            f"{_f(exp, 3) if exp else '-'} | {_f(r['base_p99_ms'], 2)} / {_f(r['cand_p99_ms'], 2)} | "
            f"{_ratio(r.get('p99_ratio'))} |"
        )
    lines += [
        "",
        _rows_legend(),
        "",
        *_per_server_lines(results),
        f"![throughput off/on per server]({chart_path})",
        "",
        "Server commands of each server's first row (the other rows differ in release, `--http`, port and "
        "state size; the two arms of a row only in the environment: `BENCH_SHIM`, `BENCH_STATE_KEYS`, "
        "`BENCH_EXPECT_STATE`); `$VENVS` is the environment cache of `tools/envs.py`, which builds one "
        "environment per release (Python 3.11, the server's fast extras, this project editable):",
        "",
        "```",
        *_commands(e2e),
        "```",
        "",
    ]
    return lines


def _micro_section(results: Dict[str, Any]) -> List[str]:
    micro = results["micro"]
    lines = [
        "[`tools/bench/micro.py`](tools/bench/micro.py) times one scope hand-off with `timeit` "
        f"({micro['number']:,} calls x {micro['repeat']} repeats per statement, statements interleaved, "
        "thread CPU time, minimum over repeats): *call* is one plain Python call of the app; *added* is a "
        "call through "
        "`StateApp` minus *call*; the floor is `state.copy()` plus one Python call, the target twice that. "
        "*instance call* is what CPython charges for calling an instance of any Python class whose "
        "`__call__` does nothing (the floor of any wrapper object); *native copy* is what "
        f"{' ≥ '.join(filter(None, native_copy()))} "
        'adds to each scope it builds (`"state": self.app_state.copy()` inside the scope literal).',
        "",
        "| Python | keys | call | copy | target 2x(copy+call) | **added by the shim** "
        f"| added, 5 args{_five_args()} "
        "| instance call | native copy | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    runs = list(micro["runs"])
    if micro.get("before"):
        before = dict(micro["before"]["result"])
        before["python"] = f"{before['python']}, `_core.py` before {micro['before']['fixed_in']} (`*args`)"
        runs.append(before)
    for run in runs:
        for keys, row in run["sizes"].items():
            lines.append(
                f"| {run['python']} | {keys} | {row['call_ns']:.0f} ns | {row['copy_ns']:.0f} ns | "
                f"{row['target_ns']:.0f} ns | **{row['added_ns']:.0f} ns** | {row['added5_ns']:.0f} ns | "
                f"{row['instance_ns']:.0f} ns | {row['native_ns']:.0f} ns | {_met(row['met'])} |"
            )
    lines.append("")
    return lines + _middleware_lines(micro["runs"])


def _middleware_lines(runs: List[Dict[str, Any]]) -> List[str]:
    """The middleware beside the shim, from the same runs (statements interleaved with the others)."""
    rows = [(run["python"], keys, row) for run in runs for keys, row in run["sizes"].items()
            if "middleware_added_ns" in row]
    if not rows:
        return []
    lines = [
        "`LifespanStateMiddleware` beside the shim, in the same runs: each scope a coroutine driven to "
        "its end as an event loop does, the server's own copy of its dict made in every statement (a "
        "native server: the shim installs nothing there, the middleware still copies). *async call* is "
        "the app alone; *added by the shim* is the same through the function the shim installs where a "
        "server needs it (add, fix); *added by the middleware* is through the middleware with its run "
        "on; *coroutine frame* is an `async def` that only awaits the app, the floor of any async "
        "wrapper. The middleware's cost is its copy, its frame, the call of an object (*instance call* "
        "above) and finding the request's run.",
        "",
        "| Python | keys | async call | copy | added by the shim | **added by the middleware** "
        "| middleware / shim | coroutine frame |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for python, keys, row in rows:
        shim = row["shim_async_added_ns"]
        lines.append(
            f"| {python} | {keys} | {row['acall_ns']:.0f} ns | {row['copy_ns']:.0f} ns | {shim:.0f} ns | "
            f"**{row['middleware_added_ns']:.0f} ns** | {row['middleware_added_ns'] / shim:.1f}x | "
            f"{row['frame_ns']:.0f} ns |"
        )
    lines.append("")
    return lines


def _activation_section(results: Dict[str, Any]) -> List[str]:
    acts = results["activation"]
    groups = sorted({g for a in acts for g in a["importtime"]["groups_ms"]})
    lines = [
        "[`tools/bench/activation.py`](tools/bench/activation.py): every sample is a fresh interpreter of "
        "the release's environment (bytecode cached), timed inside it around the import or call alone "
        "(wall clock and process CPU time); median (p10-p90).",
        "",
        "| environment | runs | `import lifespan_state.auto` | `import lifespan_state` | `activate()` "
        "| inside a server start-up (app module imports `lifespan_state.auto`, server patched) "
        "| reference: `import asyncio` |",
        "|---|---:|---|---|---|---|---|",
    ]

    def cell(a: Dict[str, Any], key: str) -> str:
        wall, cpu = a[f"{key}_ms"], a[f"{key}_cpu_ms"]
        return f"{wall['median']:.1f} ms ({wall['p10']:.1f}-{wall['p90']:.1f}); CPU {cpu['median']:.1f} ms"

    for a in acts:
        lines.append(
            f"| {a['label']} | {a['runs']} | {cell(a, 'auto')} | {cell(a, 'import')} | "
            f"{a['activate_ms']['median'] * 1e3:.0f} µs | {cell(a, 'in_server')} | {cell(a, 'reference')} |"
        )
    lines += [
        "",
        "Patch cost when the server is imported after `activate()` (the post-import hook patches it): "
        + "; ".join(
            f"{a['label']}: importing the server takes "
            f"{a['server_import_hooked_ms']['median']:.1f} ms with the "
            f"hook pending (mode {a['hooked_mode']}, wrapped {len(a['hooked_patched'])} hook points) vs "
            f"{a['server_import_ms']['median']:.1f} ms without"
            for a in acts
        )
        + ". The hooked import includes more than the patch: what the shim defers until a server is "
        "imported (its shim module, wrapt, packaging, `importlib.metadata` for the version) is imported "
        "then, so the two runs load different module sets.",
        "",
        "Where the import time goes (`python -X importtime -c 'import lifespan_state.auto'`, self time, "
        "median of 5; each standard-library module is charged to the package that imported it; *total* is "
        "the whole import tree rooted at lifespan_state):",
        "",
        "| environment | " + " | ".join(groups) + " | **total** | modules |",
        "|---|" + "---:|" * (len(groups) + 2),
    ]
    for a in acts:
        mine = a["importtime"]["groups_ms"]
        lines.append(
            f"| {a['label']} | "
            + " | ".join(f"{mine.get(g, 0.0):.1f} ms" for g in groups)
            + f" | **{importtime_total(a):.1f} ms** | {a['importtime']['modules']} |"
        )
    lines += [
        "",
        "Heaviest standard-library imports (cumulative, one run): "
        + "; ".join(
            f"{a['label']}: "
            + ", ".join(
                f"`{h['module']}` {h['ms']:.1f} ms (by `{h['imported_by']}`)"
                for h in a["importtime"]["heaviest"]
            )
            for a in acts
        )
        + ".",
        "",
        "No server imported eagerly: after `import lifespan_state.auto` (and after `activate()`), "
        + "; ".join(
            f"{a['label']}: server modules in `sys.modules`: {a['eager_after_auto'] or 'none'}, in "
            f"`-X importtime`: {a['importtime']['server_modules'] or 'none'}, hooks waiting for "
            f"{', '.join(a['waiting'])}"
            for a in acts
        )
        + ".",
        "",
    ]
    return lines


def _memory_section(results: Dict[str, Any]) -> List[str]:
    mem = results["memory"]
    lines = [
        "[`tools/bench/memory.py`](tools/bench/memory.py): the app starts `tracemalloc` at import and "
        "reports "
        "RSS and traced memory at `/__mem`; after a warm-up of up to 10,000 requests, `wrk -c8` runs in "
        "1 s batches until the "
        "request count is reached, sampling after each batch. Growth is the least-squares slope per 10,000 "
        "requests. The same server without the shim is measured alike as the baseline: the shim's row is "
        "flat when its growth is within the bounds outright or above the baseline's. "
        "The leak control keeps every request's state alive: the same measurement must see it.",
        "",
        "| server | requests | traced start → end | traced growth / 10k | RSS start → end | RSS growth / 10k "
        "| verdict |",
        "|---|---:|---|---:|---|---:|---|",
    ]
    for r in mem:
        if r.get("requests") is None:
            lines.append(f"| {r['title']} | error: {r['error']} | | | | | |")
            continue
        verdict = (
            ("detected" if not r["flat"] else "**not detected**")
            if r["case"]["leak"]
            else "baseline"
            if r.get("baseline")
            else (
                f"flat ({r['extra_traced_kib_per_10k']:+,.1f} KiB traced above the baseline)"
                if r.get("flat_vs_baseline")
                else ("flat" if r["flat"] else "**grows**")
            )
        )
        lines.append(
            f"| {r['title']} | {r['requests']:,} | "
            f"{r['traced_start_kib']:,.0f} → {r['traced_end_kib']:,.0f} KiB "
            f"| {r['traced_kib_per_10k']:+,.1f} KiB | "
            f"{r['rss_start_mib']:.1f} → {r['rss_end_mib']:.1f} MiB | "
            f"{r['rss_kib_per_10k']:+,.1f} KiB | {verdict} |"
        )
    lines.append("")
    return lines


def _notes_section(results: Dict[str, Any], v: Dict[str, Any]) -> List[str]:
    notes = results.get("notes") or []
    if not notes:
        return []
    return ["## Misses and what the measurements say", "", *notes, ""]
