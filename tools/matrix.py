"""The compatibility matrix: the check kit run against real server releases, Pythons and wrapt majors.

    python tools/matrix.py run            # every cell of the plan -> compat_matrix.json / .md
    python tools/matrix.py run --only '*-py3.13-*' --merge   # re-run some cells, keep the others
    python tools/matrix.py ci             # the CI subset, compared with compat_matrix.json
    python tools/matrix.py plan           # list the cells (and why each is there)
    python tools/matrix.py plan --shard 2/3             # the cells of shard 2 of 3
    python tools/matrix.py run --shard 2/3 --out s2.json  # run one shard -> a shard result file
    python tools/matrix.py merge --check s1.json s2.json s3.json  # -> compat_matrix.json / .md
    python tools/matrix.py render         # re-normalise compat_matrix.json, rewrite compat_matrix.md
    python tools/matrix.py readme-table   # the README support table (--write: README, docs/)

Each cell is one environment (``tools.envs.ensure_env``: a server release on a Python with a wrapt
line and the extras its configuration needs) in which ``python -m lifespan_state check --json
--shim both`` runs one configuration: natively first, then with the shim. Two cells per core run at
a time (``WORKERS``: a cell mostly waits on its servers). The servers are the integrations whose
descriptor has matrix facts (``lifespan_state._integrations._matrix.Matrix``), planned once the
runtime table
(``lifespan_state._versions.SUPPORTED``) has their row; the releases come from that table and the
package index, capped at each server's ``newest_tested``.

The plan is designed to cover, without running the full cross product:

* every release a server's descriptor picks (every one, or the newest patch of every minor plus
  the ones its code shapes need) on one Python of its era, in the default configuration
  ("release" cells);
* every Python 3.8-3.13 (above a server's floor) for its representative releases, including the
  ones a release cannot run on, recorded with the reason ("python" cells);
* every HTTP and WebSocket implementation and worker class for one release of each code-shape
  family, or for a server the kit runs by its recipe, the plain run and the TLS run (HTTP/2 by
  ALPN) ("config" cells);
* wrapt 1.14.1 (Debian 12's) and the newest 1.x next to 2.x ("wrapt" cells).

Each server's descriptor says why its releases, Pythons and extras are what they are.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

if __package__ in (None, ""):  # run as a script: make ``tools`` and ``lifespan_state`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "shims"))

from lifespan_state._integrations._load import integrations, load
from lifespan_state._integrations._matrix import Config, Limit, Matrix
from lifespan_state._versions import SUPPORTED, mode_for
from tools.envs import ROOT, EnvError, EnvSpec, ensure_env
from tools.releases import DEBIAN, limit_for, limits

__all__ = [
    "PYTHONS",
    "SERVER_ORDER",
    "Cell",
    "Comparison",
    "MergeError",
    "Outcome",
    "ci_cells",
    "classify",
    "compare",
    "facts",
    "merge_shards",
    "missing_shards",
    "needs_uvloop",
    "parse_shard",
    "plan",
    "pythons_for",
    "readme_table",
    "releases",
    "render_markdown",
    "run_cells",
    "servers",
    "shard",
    "shard_document",
    "support_table",
]

PYTHONS: Tuple[str, ...] = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
#: Each matrix server's facts (its descriptor's ``matrix``), in the order its pages list them.
_FACTS: Dict[str, Matrix] = {i.name: i.matrix for i in integrations() if i.matrix is not None}
#: The matrix's servers in the order its pages list them (the descriptors' rank). A server is
#: planned once the runtime table (``SUPPORTED``) has its row: the shim-on half of its cells
#: needs the shim.
SERVER_ORDER: Tuple[str, ...] = tuple(_FACTS)
JSON_PATH = ROOT / "compat_matrix.json"
#: Cells run at once. A check run spends most of its time waiting on its servers (about a quarter
#: of one core, measured here), so two per core keep both cores busy without overloading them.
WORKERS = 2 * (os.cpu_count() or 1)
MD_PATH = ROOT / "compat_matrix.md"
CACHE = ROOT / ".cache" / "matrix"
#: One cell's check run; a server that hangs must not stall the matrix.
CELL_TIMEOUT = float(os.environ.get("LIFESPAN_STATE_CELL_TIMEOUT", "420"))

#: wrapt lines: label -> the requirement EnvSpec pins ("==" + this).
WRAPT = {DEBIAN.wrapt: DEBIAN.wrapt, "1.x": "1.*", "2.x": "2.*"}
DEFAULT_WRAPT = "2.x"


# -- releases -------------------------------------------------------------------------------------


def _index_versions(server: str) -> List[Version]:
    """Every non-yanked, final release of ``server`` on the package index (cached per day)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"releases-{server}-{time.strftime('%Y-%m-%d')}.json"
    if cached.exists():
        names = json.loads(cached.read_text())
    else:
        request = urllib.request.Request(
            f"https://pypi.org/simple/{server}/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            data = json.load(response)
        live: Dict[str, bool] = {}
        for item in data["files"]:
            match = re.match(rf"{server}-([^-]+?)(?:\.tar\.gz|\.zip|-py)", item["filename"], re.I)
            if match:
                live[match.group(1)] = live.get(match.group(1), False) or not item.get("yanked")
        names = sorted(name for name, ok in live.items() if ok)
        cached.write_text(json.dumps(names))
    out = []
    for name in names:
        try:
            version = Version(name)
        except ValueError:
            continue
        if not version.is_prerelease and not version.is_devrelease:
            out.append(version)
    return sorted(set(out))


def releases(server: str, versions: Optional[Iterable[Version]] = None) -> List[str]:
    """The releases the matrix covers for ``server``, oldest first: those its descriptor's
    :class:`~lifespan_state._integrations._matrix.Picks` choose in the supported range. Capped at
    ``newest_tested``: a newer release joins the matrix when the table says it was tested.
    """
    support = SUPPORTED[server]
    picks = facts(server).picks
    low, high = Version(support.minimum), Version(support.newest_tested)
    pool = [v for v in (versions if versions is not None else _index_versions(server)) if low <= v <= high]
    pool = [v for v in pool if v.post is None or Version(v.base_version) not in pool]
    if picks.every:
        return [str(v) for v in sorted(pool)]
    newest: Dict[Tuple[int, int], Version] = {}
    oldest: Dict[Tuple[int, int], Version] = {}
    for v in pool:
        key = (v.major, v.minor)
        if key not in newest or v > newest[key]:
            newest[key] = v
        if key not in oldest or v < oldest[key]:
            oldest[key] = v
    chosen = set(newest.values())
    if picks.fix_mode:
        chosen.update(v for v in pool if (mode_for(server, v) or _NONE).mode == "fix")
    if picks.oldest:
        chosen.update(sorted(pool)[:1])
    if picks.oldest_per_minor:
        chosen.update(oldest.values())
    if picks.mode_bounds:
        for bound in (Version(r.low) for r in SUPPORTED[server].ranges):
            chosen.update(v for v in pool if v == bound)
            chosen.update(sorted(v for v in pool if v < bound)[-1:])
    return [str(v) for v in sorted(chosen)]


def facts(server: str) -> Matrix:
    """What ``server``'s descriptor tells the matrix (KeyError: it has no matrix facts)."""
    return _FACTS[server]


def servers() -> List[str]:
    """The matrix's servers: those of :data:`SERVER_ORDER` the runtime table has a row for."""
    return [s for s in SERVER_ORDER if s in SUPPORTED]


def pythons_for(server: str) -> Tuple[str, ...]:
    """The Pythons the matrix runs ``server`` on (all of :data:`PYTHONS` above its floor)."""
    floor = Version(facts(server).python_floor or PYTHONS[0])
    return tuple(p for p in PYTHONS if Version(p) >= floor)


# -- cells ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One environment and one configuration of the check kit."""

    server: str
    server_version: str
    python: str
    wrapt: str  # a WRAPT label
    http: str
    ws: str
    worker: str
    #: Which design rule put the cell in the plan (several rules may pick the same cell).
    roles: Tuple[str, ...] = field(default=(), compare=False, hash=False)

    @property
    def id(self) -> str:
        return (
            f"{self.server}-{self.server_version}-py{self.python}-wrapt{self.wrapt}"
            f"-{self.http}-{self.ws}-{self.worker}"
        )

    @property
    def label(self) -> str:
        return (
            f"{self.server} {self.server_version} py{self.python} wrapt {self.wrapt} "
            f"{self.http}/{self.ws}/{self.worker}"
        )

    def sort_key(self) -> Tuple[Any, ...]:
        return (
            self.server,
            Version(self.server_version),
            Version(self.python),
            self.wrapt,
            self.http,
            self.ws,
            self.worker,
        )

    def extras(self) -> Tuple[str, ...]:
        """What the configuration needs installed next to the server release, in the order of
        its descriptor's facts (the order is part of the environment's cache key)."""
        known = facts(self.server)
        need: List[str] = []
        if known.by_recipe:
            # the kit's h2c / HTTP/2 client uses h2; its TLS run makes a certificate with trustme
            need.append("h2")
            if "tls" in self.http.split("+"):
                need.append("trustme")
        labels = {"http": self.http, "ws": self.ws, "worker": self.worker}
        for option, by_value in known.option_extras.items():
            parts = labels[option].split("+")
            for value, requirements in by_value.items():
                if value in parts:
                    need += [r for r in requirements if r not in need]
        need += [r for r in release_extras(self.server, self.server_version) if r not in need]
        return tuple(need)

    def env_spec(self) -> EnvSpec:
        return EnvSpec(
            self.server, self.server_version, self.python, wrapt=WRAPT[self.wrapt], extra=self.extras()
        )


def _era(server: str, version: str) -> Tuple[str, ...]:
    """Pythons contemporary with a release, for its one "release" cell (rotated through, so that
    every Python gets its share of releases). The full 3.8-3.13 sweep of representative releases
    shows what happens outside the era."""
    known = facts(server)
    v = Version(version)
    for bound, pythons in known.eras:
        if v < Version(bound):
            return pythons
    return known.newest_era


def release_extras(server: str, version: str) -> List[str]:
    """What every cell of ``server==version`` installs, whatever its configuration (none for a
    server without matrix facts)."""
    known = _FACTS.get(server)
    if known is None:
        return []
    v = Version(version)
    return [requirement for spec, requirement in known.release_extras if v in SpecifierSet(spec)]


def needs_uvloop(server: str, version: str) -> bool:
    """The release runs on uvloop in the matrix (its descriptor's ``release_extras``); the tests
    that run such a release install it too."""
    return "uvloop" in release_extras(server, version)


def _config_cross(server: str, version: str) -> List[Tuple[str, str, str]]:
    """Every HTTP and WebSocket implementation and worker class of a release, each at least once
    (the default configuration is the first)."""
    known = facts(server)
    v = Version(version)
    combos: List[Tuple[str, str, str]] = [known.default]
    if known.by_recipe:
        combos.append(Config("tls+h2", known.default.ws, known.default.worker))
    combos += [config for config, spec in known.configs if v in SpecifierSet(spec)]
    # Configurations a limit keeps out of the plan (tools.releases.limit_for: skipped).
    return [c for c in combos if not getattr(limit_for(server, version, None, *c), "skipped", False)]


def _default_config(server: str, version: str, python: str) -> Tuple[str, str, str]:
    config = facts(server).default._asdict()
    # Where the default cannot run and something else does (a limit's ``instead``), the sweep
    # runs that instead.
    limit = limit_for(server, version, python, **config)
    config.update(limit.instead if limit else ())
    return config["http"], config["ws"], config["worker"]


def plan(available: Optional[Dict[str, List[str]]] = None) -> List[Cell]:
    """Every cell of the matrix, sorted; ``available``: server -> releases (default: the index)."""
    cells: Dict[Cell, List[str]] = {}

    def add(cell: Cell, role: str) -> None:
        cells.setdefault(cell, [])
        if role not in cells[cell]:
            cells[cell].append(role)

    for server in servers():
        # ``available`` given: exactly those releases (a server it lacks is not planned)
        versions = available.get(server, []) if available is not None else releases(server)
        known = facts(server)
        http, ws, worker = known.default
        for index, version in enumerate(versions):
            era = _era(server, version)
            python = era[index % len(era)]
            add(Cell(server, version, python, DEFAULT_WRAPT, http, ws, worker), "release")
        for version in known.python_sweep:
            if version not in versions:
                continue
            for python in pythons_for(server):
                add(
                    Cell(server, version, python, DEFAULT_WRAPT, *_default_config(server, version, python)),
                    "python",
                )
        for version, python in known.config_sweep:
            if version not in versions:
                continue
            for chttp, cws, cworker in _config_cross(server, version):
                add(Cell(server, version, python, DEFAULT_WRAPT, chttp, cws, cworker), "config")
        for version, pythons in known.ci_extra:
            if version not in versions:
                continue
            for python in pythons:
                add(Cell(server, version, python, DEFAULT_WRAPT, http, ws, worker), "ci")
        for version, python, line in known.wrapt_sweep:
            if version in versions:
                add(Cell(server, version, python, line, http, ws, worker), "wrapt")
    out = [
        Cell(c.server, c.server_version, c.python, c.wrapt, c.http, c.ws, c.worker, tuple(roles))
        for c, roles in cells.items()
    ]
    return sorted(out, key=Cell.sort_key)


# -- running one cell -----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one cell showed: the JSON record of compat_matrix.json, plus the raw check output."""

    cell: Cell
    native: str  # pass | fail | cannot-run
    shim: str  # pass | fail | cannot-run
    mode: Optional[str]
    failed_native: List[str]
    failed_shim: List[str]
    reason: str
    versions: Dict[str, str] = field(default_factory=dict)
    raw: Optional[Dict[str, Any]] = None

    def record(self) -> Dict[str, Any]:
        c = self.cell
        return {
            "id": c.id,
            "server": c.server,
            "server_version": c.server_version,
            "python": c.python,
            "wrapt": c.wrapt,
            "wrapt_version": self.versions.get("wrapt", ""),
            "http": c.http,
            "ws": c.ws,
            "worker": c.worker,
            "native": self.native,
            "shim": self.shim,
            "mode": self.mode,
            "failed_checks": {"native": self.failed_native, "shim": self.failed_shim},
            "reason": _stable(self.reason),
            "roles": list(c.roles),
            "versions": dict(sorted(self.versions.items())),
        }


#: Known reasons a release cannot run somewhere (found by installing and running them here): the
#: descriptors' limits, in compat_matrix.md's order. They only explain a cell that *did* fail to
#: install or start natively; they never decide a result.
KNOWN_LIMITS: Tuple[Limit, ...] = tuple(
    limit for server in sorted(_FACTS, key=lambda name: _FACTS[name].limits_rank) for limit in limits(server)
)


#: A build that fetches a dependency over the network, on a machine that has none (cargo's
#: git dependencies of a compiled server's old releases, here): machine-only text, stated in one phrase.
NO_NETWORK = (
    "does not install here: its build fetches a dependency over the network, which this machine lacks"
)
_NETWORK_FAILURE = re.compile(
    r"failed to get `[^`]+` as a dependency|failed to fetch|spurious network error|"
    r"[Cc]ould not resolve host|Temporary failure in name resolution|[Nn]etwork is unreachable"
)


def _stable(text: str) -> str:
    """Drop what differs between two machines or two runs of the same cell from a reason (ports,
    addresses, process ids, Python patch releases, this machine's lack of network), so that a
    rerun with the same results writes the same bytes, here as on a CI runner."""
    if text.startswith("does not install") and _NETWORK_FAILURE.search(text):
        return NO_NETWORK
    # uv names the interpreter's patch release ("the current Python version (3.8.18)"); a cell
    # is one minor, and another machine's 3.8 is another patch
    # (a requirement such as "Python>=3.10" is left alone)
    text = re.sub(r"(\bPython(?: version)? \(?)(3\.\d+)\.\d+\b", r"\1\2", text)
    text = re.sub(r"0x[0-9a-fA-F]+", "0xADDR", text)
    # installer messages name the machine's uv cache (with a random directory per build)
    text = re.sub(r"/\S*?/uv/sdists-v\d+/\S*", "<uv cache>", text)
    text = re.sub(r"(127\.0\.0\.1|localhost):\d+", r"\1:PORT", text)
    text = re.sub(r"\[\d+\]", "[PID]", text)
    return text


def _explain(cell: Cell, observed: str) -> str:
    limit = limit_for(cell.server, cell.server_version, cell.python, cell.http, cell.ws, cell.worker)
    return limit.text if limit else observed


#: How the check kit reports a server that never accepted a connection (ServerStartError).
_START_FAILURE = re.compile(r"^server (exited with status|did not accept connections)")


def _did_not_run(record: Dict[str, Any]) -> Optional[str]:
    """The server's own start-up failure, when the record's main run never started.

    S1 is observed in the main run: when it failed because the server process exited or never
    accepted a connection, nothing about state was observed at all.
    """
    for check in record.get("checks", []):
        if (
            check["id"] == "S1"
            and check["status"] == "fail"
            and _START_FAILURE.match(check.get("detail", ""))
        ):
            return str(check["detail"])
    return None


def classify(cell: Cell, data: Dict[str, Any]) -> Outcome:
    """Reduce the check kit's JSON for one cell to native/shim/mode/failed checks."""
    native_records = [r for r in data.get("results", []) if r.get("shim") == "off"]
    shim_records = [r for r in data.get("results", []) if r.get("shim") == "on"]

    def verdict(records: List[Dict[str, Any]]) -> Tuple[str, List[str], str]:
        if not records:
            return "cannot-run", [], str(data.get("error") or "the check kit returned no result")
        failed = sorted(
            {c["id"] for r in records for c in r.get("checks", []) if c["status"] == "fail"},
            key=lambda i: int(i[1:]) if i[1:].isdigit() else 99,
        )
        stopped = [_did_not_run(r) for r in records]
        if all(stopped):
            return "cannot-run", failed, str(stopped[0])
        return ("pass" if all(r.get("passed") for r in records) else "fail"), failed, ""

    native, failed_native, native_why = verdict(native_records)
    shim, failed_shim, shim_why = verdict(shim_records)
    modes = sorted({str(r["mode"]) for r in shim_records if r.get("mode")})
    reason = ""
    if native == "cannot-run":
        reason = _explain(cell, native_why)
        if shim == "cannot-run":
            failed_shim = []
        failed_native = []
    elif shim != "pass":
        details = [
            f"{c['id']}: {c.get('detail', '')}"
            for r in shim_records
            for c in r.get("checks", [])
            if c["status"] == "fail"
        ]
        reason = "; ".join(details)[:600] or shim_why
    return Outcome(cell, native, shim, ",".join(modes) or None, failed_native, failed_shim, reason, raw=data)


def _installed(env: Path) -> Dict[str, str]:
    """Versions of the packages that matter, read from the environment's dist-info names."""
    wanted = {"wrapt", "h11", "httptools", "websockets", "wsproto", "uvloop", "trio", "h2", "aioquic",
              "anyio", *(name for known in _FACTS.values() for name in known.reported)}
    found: Dict[str, str] = {}
    for info in env.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        key = name.lower().replace("_", "-")
        if key in wanted:
            found[key] = version
    return found


def check_argv(cell: Cell) -> List[str]:
    if facts(cell.server).by_recipe:
        # launched by the kit's recipe: its transports are the configuration; TLS is the option
        tls = ["--tls"] if "tls" in cell.http.split("+") else []
        return ["-m", "lifespan_state", "check", "--json", "--shim", "both", "--server", cell.server, *tls]
    return [
        "-m", "lifespan_state", "check", "--json", "--shim", "both",
        "--server", cell.server, "--http", cell.http, "--ws", cell.ws, "--worker", cell.worker,
    ]


def run_cell(cell: Cell) -> Outcome:
    """Build the cell's environment and run the check kit in it (never raises for a cell)."""
    try:
        env = ensure_env(cell.env_spec())
    except EnvError as exc:
        reason = _explain(cell, f"does not install: {exc.reason}")
        return Outcome(cell, "cannot-run", "cannot-run", None, [], [], reason)
    versions = _installed(env)
    with tempfile.TemporaryDirectory(prefix="lsmatrix-") as workdir:
        environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        environ["PYTHONDONTWRITEBYTECODE"] = "1"
        try:
            proc = subprocess.run(
                [str(env / "bin" / "python"), *check_argv(cell)],
                cwd=workdir,
                env=environ,
                capture_output=True,
                text=True,
                timeout=CELL_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            outcome = Outcome(cell, "fail", "fail", None, [], [], f"no result within {CELL_TIMEOUT:g} s")
            outcome.versions = versions
            return outcome
    data: Dict[str, Any]
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        data = {"results": [], "error": f"check exited {proc.returncode} without JSON: {tail}"[:600]}
    outcome = classify(cell, data)
    if not data.get("results"):
        outcome.native = outcome.shim = "fail"
        outcome.reason = str(data.get("error"))
    outcome.versions = versions
    return outcome


# -- running many cells ---------------------------------------------------------------------------


def _short(outcome: Outcome) -> str:
    def part(name: str, status: str, failed: List[str]) -> str:
        return f"{name} {status}" + (f" ({' '.join(failed)})" if failed and status == "fail" else "")

    native = part("native", outcome.native, outcome.failed_native)
    text = f"{native} | {part('shim', outcome.shim, outcome.failed_shim)}"
    if outcome.mode:
        text += f" | mode {outcome.mode}"
    if outcome.native == "cannot-run" or outcome.shim == "fail":
        text += f" | {outcome.reason[:300]}"
    return text


def run_cells(
    cells: Sequence[Cell],
    workers: int = 2,
    stream: Any = sys.stderr,
    retry: Optional[Callable[[Outcome], bool]] = None,
) -> List[Outcome]:
    """Run ``cells`` on ``workers`` threads (each drives one check process), with a progress line.

    ``retry``: outcomes it selects are run once more and the second result is kept; the log line
    says so, with the first result. Server processes on a loaded machine occasionally miss a
    bounded wait (a graceful shutdown that takes longer than the kit's stop timeout, say); a
    defect of the shim or the server fails both runs.
    """
    done: List[Outcome] = []
    lock = threading.Lock()
    start = time.monotonic()
    total = len(cells)

    def one(cell: Cell) -> Outcome:
        outcome = run_cell(cell)
        note = ""
        if retry is not None and retry(outcome):
            first = _short(outcome)
            outcome = run_cell(cell)
            note = f" (second run; the first: {first})"
        with lock:
            done.append(outcome)
            elapsed = time.monotonic() - start
            eta = elapsed / len(done) * (total - len(done))
            stream.write(
                f"[{len(done):>3}/{total} {elapsed / 60:4.1f} min, ~{eta / 60:.0f} min left] "
                f"{cell.label}: {_short(outcome)}{note}\n"
            )
            stream.flush()
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        outcomes = list(pool.map(one, cells))
    return outcomes


# -- outputs --------------------------------------------------------------------------------------


def _records(outcomes: Iterable[Outcome]) -> List[Dict[str, Any]]:
    return sorted((o.record() for o in outcomes), key=_record_key)


def _record_key(r: Dict[str, Any]) -> Tuple[Any, ...]:
    version, python = Version(r["server_version"]), Version(r["python"])
    return (r["server"], version, python, r["wrapt"], r["http"], r["ws"], r["worker"])


def write_json(records: List[Dict[str, Any]], path: Path = JSON_PATH) -> None:
    path.write_text(json.dumps(sorted(records, key=_record_key), indent=1, sort_keys=True) + "\n")


def _mode_text(server: str) -> str:
    parts = []
    for entry in SUPPORTED[server].ranges:
        span = f"{entry.low} to < {entry.high}" if entry.high else f">= {entry.low}"
        parts.append(f"{entry.mode} {span}")
    return "; ".join(parts)


def _spans(ids: List[str]) -> str:
    """``S1 S2 S3 S5`` -> ``S1-S3 S5``: the long lists of a release without state stay short."""
    numbers = sorted(int(i[1:]) for i in ids)
    out: List[Tuple[int, int]] = []
    for n in numbers:
        if out and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return " ".join(f"S{a}" if a == b else f"S{a}-S{b}" for a, b in out)


SYMBOL = {"pass": "✓", "fail": "✗", "cannot-run": "n/a"}


def _listed(records: List[Dict[str, Any]]) -> List[str]:
    """The servers of ``records`` in page order."""
    present = {r["server"] for r in records}
    return [s for s in SERVER_ORDER if s in present] + sorted(present - set(SERVER_ORDER))


def render_markdown(records: List[Dict[str, Any]]) -> str:
    """compat_matrix.md from the records (no timestamps or durations: reruns give the same bytes)."""
    records = sorted(records, key=_record_key)
    lines = [
        "<!-- generated by `python tools/matrix.py run` from real runs — do not edit -->",
        "# Compatibility matrix",
        "",
        "Generated — do not edit. Every cell is a real run of `lifespan-state check --json --shim both`",
        "(the checks S1-S12 of the conformance contract) against a real server process on 127.0.0.1, in",
        "its own virtual environment: first natively (shim off), then with the shim. Machine-readable:",
        "[`compat_matrix.json`](compat_matrix.json). Regenerate: `python tools/matrix.py run`.",
        "",
        "## Summary",
        "",
        "| server | supported | tested up to | modes | releases | cells | shim pass | shim fail "
        "| cannot run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for server in _listed(records):
        mine = [r for r in records if r["server"] == server]
        support = SUPPORTED[server]
        count = {s: sum(1 for r in mine if r["shim"] == s) for s in ("pass", "fail", "cannot-run")}
        lines.append(
            f"| {server} | >= {support.minimum} | {support.newest_tested} | {_mode_text(server)} "
            f"| {len({r['server_version'] for r in mine})} | {len(mine)} | {count['pass']} | {count['fail']} "
            f"| {count['cannot-run']} |"
        )
    pythons = sorted({r["python"] for r in records}, key=Version)
    wrapts = sorted({r["wrapt_version"] for r in records if r["wrapt_version"]}, key=Version)
    lines += [
        "",
        f"Pythons: {', '.join(pythons)}. wrapt: {', '.join(wrapts)}.",
        "",
        "## Legend",
        "",
        "- **✓** pass: every applicable check passed; **✗** fail: at least one check failed (named);",
        "  **n/a** cannot run: the release does not install or start there natively (reason given),",
        "  which says nothing about the shim.",
        "- *native*: the release on its own (shim off). *shim*: with `import lifespan_state.auto` in the",
        "  app module. *mode*: what the shim chose (add: the release has no state; fix: it shares one",
        "  copy between requests; native: nothing wrapped).",
        "- Release grid: one mark per Python for all configurations run there (✓ only if all passed).",
        "",
        "Limits of the old releases themselves (the plan runs such a release elsewhere, or in a",
        "configuration that works there; cells that hit them anyway say so):",
        "",
        *(f"- {limit.text}" for limit in KNOWN_LIMITS),
        "",
    ]
    for server in _listed(records):
        mine = [r for r in records if r["server"] == server]
        lines += [
            f"## {server}: releases x Pythons (with the shim)",
            "",
            "| release | mode | native (shim off) | " + " | ".join(f"py{p}" for p in PYTHONS) + " |",
            "|---|---|---|" + "---|" * len(PYTHONS),
        ]
        for version in sorted({r["server_version"] for r in mine}, key=Version):
            rows = [r for r in mine if r["server_version"] == version]
            modes = sorted({r["mode"] for r in rows if r["mode"]})
            ran = [r for r in rows if r["native"] != "cannot-run"]
            if not ran:
                native = "n/a"
            elif all(r["native"] == "pass" for r in ran):
                native = "✓"
            else:
                failed = sorted(
                    {c for r in ran for c in r["failed_checks"]["native"]}, key=lambda i: int(i[1:])
                )
                native = "✗ " + _spans(failed)
            marks = []
            for python in PYTHONS:
                here = [r for r in rows if r["python"] == python]
                if not here:
                    marks.append("")
                elif any(r["shim"] == "fail" for r in here):
                    marks.append("✗")
                elif any(r["shim"] == "pass" for r in here):
                    marks.append("✓" if all(r["shim"] == "pass" for r in here) else "✓ (n/a)")
                else:
                    marks.append("n/a")
            lines.append(
                f"| {version} | {', '.join(modes) or 'n/a'} | {native} | " + " | ".join(marks) + " |"
            )
        lines.append("")
    lines += [
        "## Every cell",
        "",
        "| server | release | Python | wrapt | http | ws | worker | native | shim | mode "
        "| failed checks / reason | installed with it |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        with_ = ", ".join(f"{k} {v}" for k, v in sorted(r.get("versions", {}).items()) if k != "wrapt")
        notes = []
        if r["failed_checks"]["native"]:
            notes.append("native: " + _spans(r["failed_checks"]["native"]))
        if r["failed_checks"]["shim"]:
            notes.append("**shim: " + " ".join(r["failed_checks"]["shim"]) + "**")
        if r["reason"] and (r["native"] == "cannot-run" or r["shim"] != "pass"):
            notes.append(r["reason"].replace("|", "/"))
        lines.append(
            f"| {r['server']} | {r['server_version']} | {r['python']} | {r['wrapt_version'] or r['wrapt']} "
            f"| {r['http']} | {r['ws']} | {r['worker']} | {SYMBOL[r['native']]} | {SYMBOL[r['shim']]} "
            f"| {r['mode'] or 'n/a'} | {'; '.join(notes)} | {with_} |"
        )
    return "\n".join(lines) + "\n"


#: What a harness row of the support table is (the rows of SUPPORTED that are not servers).
MODES = ("add", "fix", "native")


def _mode_spans(server: str) -> Dict[str, str]:
    """mode -> the releases that get it, neighbouring ranges of one mode joined (two fix ranges may
    differ in why, not in what the user gets)."""
    spans: Dict[str, List[List[Optional[str]]]] = {}
    for entry in SUPPORTED[server].ranges:
        runs = spans.setdefault(entry.mode, [])
        if runs and runs[-1][1] == entry.low:
            runs[-1][1] = entry.high
        else:
            runs.append([entry.low, entry.high])
    return {
        mode: ", ".join(f"{low} to < {high}" if high else f">= {low}" for low, high in runs)
        for mode, runs in spans.items()
    }


def readme_table() -> str:
    """The README's compact support table, from SUPPORTED (the runtime gate's table): one row per
    server or test harness, the releases of each mode."""
    lines = [
        "<!-- generated from lifespan_state._versions.SUPPORTED by "
        "`python tools/matrix.py readme-table --write` -->",
        "| server or test harness | add | fix | native | tested up to |",
        "|---|---|---|---|---|",
    ]
    for server, support in SUPPORTED.items():
        name = load(support.integration).label
        spans = _mode_spans(server)
        cells = " | ".join(spans.get(mode, "—") for mode in MODES)
        lines.append(f"| {name} | {cells} | {support.newest_tested} |")
    return "\n".join(lines) + "\n"


def support_table() -> str:
    """The full support table of docs/how-it-works.md: every range with its mode and why."""
    lines = [
        "<!-- generated from lifespan_state._versions.SUPPORTED by "
        "`python tools/matrix.py readme-table --write` -->",
        "| server | releases | mode | why |",
        "|---|---|---|---|",
    ]
    for server, support in SUPPORTED.items():
        for entry in support.ranges:
            if entry.high:
                span = f"{entry.low} to < {entry.high}"
            else:
                span = f">= {entry.low} (tested up to {support.newest_tested})"
            lines.append(f"| {server} | {span} | {entry.mode} | {entry.why} |")
    return "\n".join(lines) + "\n"


README_MARKERS = ("<!-- support-table -->", "<!-- /support-table -->")
#: The documents that hold a generated table between README_MARKERS, and which table.
TABLE_DOCUMENTS: Tuple[Tuple[Path, Callable[[], str]], ...] = (
    (ROOT / "README.md", readme_table),
    (ROOT / "docs" / "how-it-works.md", support_table),
)


def generated_fragment(text: str) -> Optional[str]:
    """What stands between the markers of ``text`` (None: it has no complete pair)."""
    start, end = README_MARKERS
    if start not in text or end not in text.split(start, 1)[1]:
        return None
    return text.split(start, 1)[1].split(end, 1)[0]


def write_readme_table(path: Path = ROOT / "README.md", table: Callable[[], str] = readme_table) -> None:
    """Put the generated table between the markers of ``path`` (adding the end marker once)."""
    start, end = README_MARKERS
    text = path.read_text()
    if start not in text:
        raise SystemExit(f"{path} has no {start} marker")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1] if end in rest else rest
    path.write_text(f"{head}{start}\n{table()}{end}{tail}")  # table ends with a newline


# -- shards ---------------------------------------------------------------------------------------
#
# The full matrix is split into N shards that separate machines run (.github/workflows/matrix.yml,
# or several local shells); ``merge`` puts their result files back together. The split is a pure
# function of the sorted plan, so every machine computes the same one without talking to the
# others, and the merged files are the bytes one full run writes.

SHARD_FORMAT = "lifespan-state-matrix-shard/1"


class MergeError(ValueError):
    """Shard result files that do not add up to the plan (missing, repeated or foreign cells)."""


def parse_shard(text: str) -> Tuple[int, int]:
    """``"2/3"`` -> ``(2, 3)``; K counts from 1."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"a shard is K/N (for example 2/3), not {text!r}")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"shard {k}/{n}: K must be between 1 and N, and N at least 1")
    return k, n


def shard(cells: Sequence[Cell], k: int, n: int) -> List[Cell]:
    """The cells of shard ``k`` of ``n``: every n-th cell of the sorted plan, starting at the k-th.

    Dealing the sorted cells out in turn keeps the shards within one cell of each other in size
    and mixes releases, Pythons and configurations in every shard (neighbours in the sorted plan
    are the same release, so slicing the list into blocks would give one shard all the slow old
    releases whose servers time out and another only the quick ones).
    """
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"shard {k}/{n}: K must be between 1 and N, and N at least 1")
    ordered = sorted(cells, key=Cell.sort_key)
    return ordered[k - 1 :: n]


def shard_document(k: int, n: int, cells: Sequence[Cell], outcomes: Iterable[Outcome]) -> Dict[str, Any]:
    """A shard result file: which shard, the cells it was given, and their records."""
    return {
        "format": SHARD_FORMAT,
        "shard": [k, n],
        "cells": [c.id for c in sorted(cells, key=Cell.sort_key)],
        "records": _records(outcomes),
    }


def missing_shards(documents: Sequence[Dict[str, Any]]) -> List[Tuple[int, int]]:
    """The shards ``(k, n)`` of the documents' split that have no document."""
    splits = {int(doc["shard"][1]) for doc in documents if isinstance(doc, dict) and "shard" in doc}
    if len(splits) != 1:
        return []  # no split, or several: merge_shards says what is wrong
    (n,) = splits
    present = {int(doc["shard"][0]) for doc in documents}
    return [(k, n) for k in range(1, n + 1) if k not in present]


def merge_shards(
    documents: Sequence[Dict[str, Any]], planned: Optional[Sequence[str]] = None, missing_ok: bool = False
) -> List[Dict[str, Any]]:
    """The records of shards 1..N, checked to add up: every shard once, each with exactly its cells
    (``shard(plan, k, n)`` when ``planned`` -- the plan's cell ids in plan order -- is given) and a
    record for each, no cell twice, and together the whole plan. ``missing_ok``: a shard with no
    document is left out (its cells too) instead of refused; :func:`missing_shards` names them."""
    if not documents:
        raise MergeError("no shard result files to merge")
    for index, doc in enumerate(documents):
        if not isinstance(doc, dict) or doc.get("format") != SHARD_FORMAT:
            raise MergeError(f"file {index + 1} is not a shard result ({SHARD_FORMAT})")
    splits = sorted({int(doc["shard"][1]) for doc in documents})
    if len(splits) != 1:
        raise MergeError(f"shards of different splits: N = {splits}")
    seen: Dict[int, int] = {}
    records: List[Dict[str, Any]] = []
    owner: Dict[str, int] = {}
    for index, doc in enumerate(documents):
        k, n = (int(x) for x in doc["shard"])
        if k in seen:
            raise MergeError(f"shard {k}/{n} given twice")
        seen[k] = index
        ids = [r["id"] for r in doc["records"]]
        if sorted(ids) != sorted(doc["cells"]) or len(set(ids)) != len(ids):
            missing = sorted(set(doc["cells"]) - set(ids))
            extra = sorted(set(ids) - set(doc["cells"]))
            raise MergeError(
                f"shard {k}/{n}: records do not match its cells (missing {missing}, extra {extra})"
            )
        for cell_id in ids:
            if cell_id in owner:
                raise MergeError(f"cell {cell_id} is in shard {owner[cell_id]} and shard {k}")
            owner[cell_id] = k
        if planned is not None:
            expected = list(planned)[k - 1 :: n]
            if sorted(expected) != sorted(doc["cells"]):
                raise MergeError(
                    f"shard {k}/{n} ran other cells than the plan gives it "
                    f"(not run: {sorted(set(expected) - set(doc['cells']))[:5]}, "
                    f"not planned: {sorted(set(doc['cells']) - set(expected))[:5]})"
                )
        records += doc["records"]
    (n,) = splits
    absent = sorted(set(range(1, n + 1)) - set(seen))
    if absent and not missing_ok:
        raise MergeError(f"shard(s) {', '.join(f'{k}/{n}' for k in absent)} missing")
    if planned is not None and not absent and set(owner) != set(planned):
        raise MergeError(f"the shards do not cover the plan: {len(set(planned) - set(owner))} cells missing")
    return sorted(records, key=_record_key)


# -- CI subset ------------------------------------------------------------------------------------


def ci_cells(records: List[Dict[str, Any]], pythons_per_release: int = 2) -> List[Cell]:
    """Oldest, last-without-state, first-with-native-state (buggy or not) and newest release of
    each server, on ``pythons_per_release`` Pythons each, in the default configuration — chosen
    among the cells of ``records`` where the release runs (so each has a committed answer). A
    server whose descriptor names a CI representative gets that release's cell only."""
    chosen: List[Cell] = []
    for server in [s for s in servers() if not facts(s).ci_representative]:
        http, ws, worker = facts(server).default
        mine = [
            r for r in records
            if r["server"] == server and (r["http"], r["ws"], r["worker"]) == (http, ws, worker)
            and r["wrapt"] == DEFAULT_WRAPT and r["native"] != "cannot-run"
        ]
        versions = sorted({r["server_version"] for r in mine}, key=Version)
        add_mode = [v for v in versions if (mode_for(server, Version(v)) or _NONE).mode == "add"]
        stateful = [v for v in versions if (mode_for(server, Version(v)) or _NONE).mode != "add"]
        picks = []
        for candidate in (versions[:1], add_mode[-1:], stateful[:1], versions[-1:]):
            picks += [v for v in candidate if v not in picks]
        for version in picks:
            rows = sorted(
                (r for r in mine if r["server_version"] == version), key=lambda r: Version(r["python"])
            )
            # The oldest and the newest Python the release runs on.
            ends = [rows[0], rows[-1]] if len(rows) > 1 else rows
            for r in ends[:pythons_per_release]:
                chosen.append(
                    Cell(server, version, r["python"], r["wrapt"], r["http"], r["ws"], r["worker"], ("ci",))
                )
    # The servers with a representative: one cell each (the release the shim matters most for,
    # on the newest Python it runs on), so that the subset stays quick.
    for name in servers():
        release = facts(name).ci_representative
        if not release:
            continue
        rows = sorted(
            (r for r in records if (r["server"], r["server_version"]) == (name, release)
             and (r["http"], r["ws"], r["worker"]) == facts(name).default
             and r["wrapt"] == DEFAULT_WRAPT and r["native"] != "cannot-run"),
            key=lambda r: Version(r["python"]),
        )
        for r in rows[-1:]:
            config = (r["http"], r["ws"], r["worker"])
            chosen.append(Cell(name, release, r["python"], r["wrapt"], *config, ("ci",)))
    return chosen


@dataclass(frozen=True)
class _NoMode:
    mode: str = "none"


_NONE = _NoMode()

#: What a cell claims: whether the release runs there ("cannot-run" is a verdict), the verdict
#: natively and with the shim, the mode the shim chose, and which checks fail each way. A change
#: of any of these fails ``merge --check`` and ``ci``.
COMPARED = ("native", "shim", "mode", "failed_checks")


def differences(expected: Dict[str, Any], got: Dict[str, Any]) -> List[str]:
    """How two records of one cell differ in what they claim (empty: the same claims)."""
    return [
        f"{key}: committed {expected.get(key)!r}, now {got.get(key)!r}"
        for key in COMPARED
        if expected.get(key) != got.get(key)
    ]


def drift(expected: Dict[str, Any], got: Dict[str, Any]) -> List[str]:
    """How two records of one cell differ in what they do not claim: the dependency versions the
    installer resolved (a new h11 release), a reason's wording, the plan's roles. Reported, never
    a failure: the weekly run must not turn red because a dependency released."""
    notes = []
    old, new = expected.get("versions", {}), got.get("versions", {})
    moved = [f"{k} {old.get(k, '-')} -> {new.get(k, '-')}" for k in sorted({*old, *new})
             if old.get(k) != new.get(k)]  # fmt: skip
    if moved:
        notes.append("versions " + ", ".join(moved))
    if _stable(str(expected.get("reason", ""))) != _stable(str(got.get("reason", ""))):
        notes.append(f"reason worded {str(got.get('reason', ''))[:160]!r}")
    ignored = {*COMPARED, "versions", "reason", "wrapt_version"}  # wrapt_version: in versions
    notes += [f"{k} {expected.get(k)!r} -> {got.get(k)!r}"
              for k in sorted({*expected, *got} - ignored) if expected.get(k) != got.get(k)]  # fmt: skip
    return notes


@dataclass
class Comparison:
    """A fresh set of records against the committed one, cell by cell."""

    new: List[str] = field(default_factory=list)  # cells the committed matrix lacks
    gone: List[str] = field(default_factory=list)  # committed cells the fresh records lack
    differs: Dict[str, List[str]] = field(default_factory=dict)  # cell -> claims that changed
    drifted: Dict[str, List[str]] = field(default_factory=dict)  # cell -> incidental changes

    @property
    def agrees(self) -> bool:
        return not (self.new or self.gone or self.differs)

    def report(self) -> List[str]:
        lines = [f"NEW     {i}" for i in self.new] + [f"GONE    {i}" for i in self.gone]
        lines += [f"DIFFERS {i}: " + "; ".join(d) for i, d in sorted(self.differs.items())]
        lines += [f"drift   {i}: " + "; ".join(d) for i, d in sorted(self.drifted.items())]
        if self.drifted:
            lines.append(
                f"{len(self.drifted)} cell(s) drifted in details the matrix does not claim (resolved "
                "versions, reason wording): not a failure; commit the merged files to record them"
            )
        return lines


def compare(committed: Iterable[Dict[str, Any]], fresh: Iterable[Dict[str, Any]]) -> Comparison:
    """Compare by claims (:data:`COMPARED`), and note the drift of everything else."""
    old = {r["id"]: r for r in committed}
    new = {r["id"]: r for r in fresh}
    out = Comparison(new=sorted(set(new) - set(old)), gone=sorted(set(old) - set(new)))
    for cell_id in sorted(set(old) & set(new)):
        claims, noted = differences(old[cell_id], new[cell_id]), drift(old[cell_id], new[cell_id])
        if claims:
            out.differs[cell_id] = claims
        if noted:
            out.drifted[cell_id] = noted
    return out


# -- command line ---------------------------------------------------------------------------------


def _select(cells: List[Cell], patterns: Sequence[str]) -> List[Cell]:
    if not patterns:
        return cells
    return [c for c in cells if any(fnmatch.fnmatch(c.id, p) for p in patterns)]


def _load_records(path: Path = JSON_PATH) -> List[Dict[str, Any]]:
    return list(json.loads(path.read_text())) if path.exists() else []


def _build_envs(cells: Sequence[Cell], workers: int) -> int:
    specs = sorted({c.env_spec() for c in cells}, key=lambda s: s.key)

    def one(spec: EnvSpec) -> str:
        try:
            return f"ok    {ensure_env(spec).name}"
        except EnvError as exc:
            return f"FAIL  {spec.key}: {exc.reason}"

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for line in pool.map(one, specs):
            print(line, flush=True)
    return 0


def _merge_command(files: Sequence[Path], json_path: Path, md_path: Path, check: bool) -> int:
    """``merge``: shard files -> compat_matrix.json/.md (the bytes a full ``run`` writes).

    ``--check`` compares the merged records with the committed ones by what they claim
    (:func:`compare`): a changed claim, a new or a lost cell fails; drift in what the matrix does
    not claim is reported. A missing shard is named; the shards that are there are still compared,
    and the missing shard's cells keep their committed records in the files written.
    """
    planned = [c.id for c in plan()]
    try:
        documents = [json.loads(path.read_text()) for path in files]
        absent = missing_shards(documents)
        records = merge_shards(documents, planned, missing_ok=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"merge: {exc}", file=sys.stderr)
        return 2
    committed = _load_records(json_path)
    kept: List[Dict[str, Any]] = []
    for k, n in absent:
        ids = set(planned[k - 1 :: n])
        kept += [r for r in committed if r["id"] in ids]
        print(
            f"MISSING shard {k}/{n}: no result file (its job failed or uploaded nothing); its {len(ids)} "
            "cells keep their committed records and are not compared",
            file=sys.stderr,
        )
    # A missing shard's cells are not compared; a committed cell the plan dropped is GONE.
    ran, in_plan = {r["id"] for r in records}, set(planned)
    comparison = compare([r for r in committed if r["id"] in ran or r["id"] not in in_plan], records)
    records = sorted(records + kept, key=_record_key)
    write_json(records, json_path)
    md_path.write_text(render_markdown(records))
    failing = [r for r in records if r["shim"] == "fail"]
    for r in failing:
        print(
            f"SHIM FAILS {r['id']}: {' '.join(r['failed_checks']['shim'])} {r['reason'][:300]}",
            file=sys.stderr,
        )
    print(f"merged {len(files)} shard(s): {len(records)} cells -> {json_path}, {md_path}", file=sys.stderr)
    if check:
        for line in comparison.report():
            print(line, file=sys.stderr)
        if not comparison.agrees:
            print(
                "the merged matrix claims other results than the committed compat_matrix.json "
                "(the merged files are written: review and commit them)",
                file=sys.stderr,
            )
            return 1
    if absent:
        missing = ", ".join(f"{k}/{n}" for k, n in absent)
        print(f"merge: shard(s) {missing} missing: the matrix is incomplete", file=sys.stderr)
        return 2
    return 1 if failing else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/matrix.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the matrix and write compat_matrix.json/.md")
    run.add_argument("--only", action="append", default=[], help="cell id glob (repeatable)")
    run.add_argument("--merge", action="store_true", help="keep committed cells that were not run")
    run.add_argument("--workers", type=int, default=WORKERS)
    run.add_argument("--json", type=Path, default=JSON_PATH)
    run.add_argument("--md", type=Path, default=MD_PATH)
    run.add_argument(
        "--shard",
        type=parse_shard,
        metavar="K/N",
        help="run only shard K of N and write a shard result file (see merge)",
    )
    run.add_argument("--out", type=Path, help="the shard result file (default matrix-shard-K-of-N.json)")
    listing = sub.add_parser("plan", help="list the cells")
    listing.add_argument("--only", action="append", default=[])
    listing.add_argument("--shard", type=parse_shard, metavar="K/N", help="only the cells of shard K of N")
    merge = sub.add_parser("merge", help="merge shard result files into compat_matrix.json/.md")
    merge.add_argument("files", nargs="+", type=Path, help="the result files of shards 1..N")
    merge.add_argument(
        "--check", action="store_true", help="fail when the merged files differ from the committed ones (CI)"
    )
    merge.add_argument("--json", type=Path, default=JSON_PATH)
    merge.add_argument("--md", type=Path, default=MD_PATH)
    ci = sub.add_parser("ci", help="run the CI subset and compare with compat_matrix.json")
    ci.add_argument("--workers", type=int, default=WORKERS)
    ci.add_argument("--json", type=Path, default=JSON_PATH)
    render = sub.add_parser(
        "render", help="re-normalise compat_matrix.json's reasons and rewrite compat_matrix.md from it"
    )
    render.add_argument("--json", type=Path, default=JSON_PATH)
    render.add_argument("--md", type=Path, default=MD_PATH)
    table = sub.add_parser("readme-table", help="print the README support table")
    table.add_argument(
        "--write", action="store_true", help="refresh it in README.md (and the full one in docs/) instead"
    )
    envs = sub.add_parser("envs", help="build (warm) every cell's environment, run nothing")
    envs.add_argument("--only", action="append", default=[])
    envs.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args(argv)

    if args.command == "envs":
        return _build_envs(_select(plan(), args.only), args.workers)

    if args.command == "readme-table":
        if args.write:
            for path, make in TABLE_DOCUMENTS:
                write_readme_table(path, make)
        else:
            sys.stdout.write(readme_table())
        return 0
    if args.command == "render":
        # The stored records through the normalisation a run applies (reasons: _stable), so that a
        # rule added to it reaches the committed files without rerunning a cell.
        records = [{**r, "reason": _stable(r["reason"])} for r in _load_records(args.json)]
        write_json(records, args.json)
        args.md.write_text(render_markdown(records))
        return 0
    if args.command == "merge":
        return _merge_command(args.files, args.json, args.md, args.check)
    if args.command == "plan":
        cells = _select(plan(), args.only)
        if args.shard:
            cells = _select(shard(plan(), *args.shard), args.only)
        for cell in cells:
            print(f"{cell.id}  [{', '.join(cell.roles)}]")
        print(f"{len(cells)} cells", file=sys.stderr)
        return 0
    if args.command == "ci":
        committed = _load_records(args.json)
        if not committed:
            print(f"{args.json} is missing or empty: run `python tools/matrix.py run` first", file=sys.stderr)
            return 2
        by_id = {r["id"]: r for r in committed}
        cells = ci_cells(committed)
        print(f"CI subset: {len(cells)} cells of {args.json.name}", file=sys.stderr)
        outcomes = run_cells(
            cells, workers=args.workers, retry=lambda o: bool(differences(by_id[o.cell.id], o.record()))
        )
        # The same claim-level comparison as ``merge --check``, over the subset's cells.
        comparison = compare([by_id[o.cell.id] for o in outcomes], [o.record() for o in outcomes])
        for line in comparison.report():
            print(line, file=sys.stderr)
        bad = len(comparison.differs)
        print(f"{len(outcomes) - bad}/{len(outcomes)} cells agree with {args.json.name}", file=sys.stderr)
        return 0 if comparison.agrees else 1

    if args.shard:
        k, n = args.shard
        if args.only or args.merge:
            parser.error("--shard runs exactly the shard's cells: no --only or --merge with it")
        cells = shard(plan(), k, n)
        out = args.out or Path(f"matrix-shard-{k}-of-{n}.json")
        print(f"shard {k}/{n}: {len(cells)} cells on {args.workers} workers", file=sys.stderr)
        outcomes = run_cells(cells, workers=args.workers, retry=lambda o: o.shim == "fail")
        out.write_text(json.dumps(shard_document(k, n, cells, outcomes), indent=1, sort_keys=True) + "\n")
        shim_fails = sum(o.shim == "fail" for o in outcomes)
        # The shard's job is to record results; whether they are right is merge's verdict (over
        # every shard at once), so a failing cell does not fail the shard.
        print(
            f"shard {k}/{n}: {len(outcomes)} cells ({shim_fails} fail with the shim) -> {out}",
            file=sys.stderr,
        )
        return 0

    cells = _select(plan(), args.only)
    print(f"{len(cells)} cells on {args.workers} workers", file=sys.stderr)
    outcomes = run_cells(cells, workers=args.workers, retry=lambda o: o.shim == "fail")
    records = _records(outcomes)
    if args.merge:
        # Committed cells that were not run stay, unless the plan no longer has them.
        fresh = {r["id"] for r in records}
        planned = {c.id for c in plan()}
        records += [r for r in _load_records(args.json) if r["id"] not in fresh and r["id"] in planned]
    write_json(records, args.json)
    args.md.write_text(render_markdown(records))
    failing = [r for r in records if r["shim"] == "fail"]
    for r in failing:
        print(
            f"SHIM FAILS {r['id']}: {' '.join(r['failed_checks']['shim'])} {r['reason'][:300]}",
            file=sys.stderr,
        )
    print(
        f"{len(records)} cells: {sum(r['shim'] == 'pass' for r in records)} pass, {len(failing)} fail, "
        f"{sum(r['shim'] == 'cannot-run' for r in records)} cannot run -> {args.json}, {args.md}",
        file=sys.stderr,
    )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
