"""The matrix job's own logic (release selection, the plan's coverage, reading check results) and
the committed outputs: compat_matrix.md must be exactly what the generator makes of
compat_matrix.json, and the README's support table exactly what it makes of SUPPORTED.

Real server runs of matrix cells are in tests/integration/test_uvicorn_releases.py and in
`tools/matrix.py ci`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from packaging.version import Version
from tools.matrix import (
    PYTHONS,
    TABLE_DOCUMENTS,
    WRAPT,
    Cell,
    _config_cross,
    ci_cells,
    classify,
    facts,
    generated_fragment,
    plan,
    pythons_for,
    readme_table,
    releases,
    render_markdown,
    servers,
    support_table,
)
from tools.releases import SERVERS

from lifespan_state._versions import SUPPORTED
from script_support import ROOT

# A release list as the index has it (a slice of uvicorn's and hypercorn's real histories).
UVICORN_INDEX = [
    "0.10.9", "0.11.0", "0.11.8", "0.12.3", "0.13.4", "0.17.0.post1", "0.17.5", "0.17.6", "0.20.0", "0.21.0",
    "0.21.1", "0.24.0", "0.24.0.post1", "0.34.3", "0.35.0", "0.54.0", "0.55.0",
]
HYPERCORN_INDEX = ["0.10.2", "0.11.0", "0.11.2", "0.13.2", "0.14.2", "0.16.0", "0.17.0", "0.17.3", "0.18.0"]


def test_uvicorn_releases_newest_patch_per_minor_plus_0_21_0() -> None:
    got = releases("uvicorn", [Version(v) for v in UVICORN_INDEX])
    assert got == ["0.11.8", "0.12.3", "0.13.4", "0.17.6", "0.20.0", "0.21.0", "0.21.1", "0.24.0", "0.34.3",
                   "0.35.0", "0.54.0", "0.55.0"]
    # Below the supported minimum and above newest_tested stay out until the table says otherwise.
    assert Version(got[0]) >= Version(SUPPORTED["uvicorn"].minimum)
    assert Version(got[-1]) <= Version(SUPPORTED["uvicorn"].newest_tested)


def test_hypercorn_releases_are_every_release() -> None:
    got = releases("hypercorn", [Version(v) for v in HYPERCORN_INDEX])
    assert got == HYPERCORN_INDEX[1:]


@pytest.fixture(scope="module")
def cells() -> List[Cell]:
    available = {
        "uvicorn": releases("uvicorn", [Version(v) for v in UVICORN_INDEX]),
        "hypercorn": releases("hypercorn", [Version(v) for v in HYPERCORN_INDEX]),
    }
    return plan(available)


def test_plan_covers_every_release(cells: List[Cell]) -> None:
    for server, index in (("uvicorn", UVICORN_INDEX), ("hypercorn", HYPERCORN_INDEX)):
        wanted = set(releases(server, [Version(v) for v in index]))
        assert {c.server_version for c in cells if c.server == server} == wanted


def test_plan_sweeps_every_python_for_representatives(cells: List[Cell]) -> None:
    for server in servers():
        for version in facts(server).python_sweep:
            mine = {c.python for c in cells if (c.server, c.server_version) == (server, version)}
            if any(c.server_version == version for c in cells):
                assert mine >= set(PYTHONS), (server, version)


def test_plan_covers_every_implementation_per_family(cells: List[Cell]) -> None:
    for server in servers():
        for version, python in facts(server).config_sweep:
            if not any(c.server_version == version for c in cells):
                continue
            present = {
                (c.http, c.ws, c.worker)
                for c in cells
                if (c.server, c.server_version, c.python) == (server, version, python)
            }
            for combo in _config_cross(server, version):
                assert combo in present, (server, version, combo)
            https = {h for h, _, _ in present}
            wss = {w for _, w, _ in present}
            workers = {k for _, _, k in present}
            if server == "uvicorn":
                assert {"h11", "httptools"} <= https and {"websockets", "wsproto"} <= wss
                assert {"asyncio", "uvloop"} <= workers
            elif Version(version) >= Version("0.14"):
                assert {"asyncio", "uvloop", "trio"} <= workers
            else:  # hypercorn < 0.14's trio worker dies on SIGINT before its shutdown (a known limit)
                assert {"asyncio", "uvloop"} <= workers


def test_plan_has_both_wrapt_majors_and_debian_wrapt(cells: List[Cell]) -> None:
    for server in ("uvicorn", "hypercorn"):
        lines = {c.wrapt for c in cells if c.server == server}
        assert {"1.14.1", "2.x"} <= lines


def test_descriptors_matrix_facts_name_what_the_matrix_has() -> None:
    """Every Python, wrapt line, option and release a descriptor's matrix facts name is one the
    matrix knows, and the named releases are in the server's supported range."""
    for server in servers():
        known, support = facts(server), SUPPORTED[server]
        low, high = Version(support.minimum), Version(support.newest_tested)
        sweeps = [*known.python_sweep, *(v for v, _ in known.config_sweep),
                  *(v for v, _, _ in known.wrapt_sweep), *(v for v, _ in known.ci_extra)]
        assert all(low <= Version(v) <= high for v in sweeps), server
        pythons = {p for _, era in known.eras for p in era} | set(known.newest_era)
        pythons |= {p for _, p in known.config_sweep} | {p for _, p, _ in known.wrapt_sweep}
        assert pythons <= set(PYTHONS), server
        assert {line for _, _, line in known.wrapt_sweep} <= set(WRAPT), server
        assert set(known.option_extras) <= {"http", "ws", "worker"}, server
    for name, named in SERVERS.items():
        support = SUPPORTED[name]
        for version in (named.debian, named.last_stateless, named.buggy, named.reference, named.soaked):
            assert Version(support.minimum) <= Version(version) <= Version(support.newest_tested), name


def test_plan_ids_are_unique_and_sorted(cells: List[Cell]) -> None:
    ids = [c.id for c in cells]
    assert len(ids) == len(set(ids))
    assert cells == sorted(cells, key=Cell.sort_key)


def _record(shim: str, passed: bool, checks: Dict[str, str], mode: Any = None) -> Dict[str, Any]:
    return {
        "server": "uvicorn", "server_version": "0.20.0", "shim": shim, "mode": mode, "passed": passed,
        "config": {"http": "h11", "ws": "wsproto", "lifespan": "auto", "worker": "asyncio"},
        "checks": [{"id": k, "status": v, "detail": "server exited with status 1: boom" if v == "fail" and
                    "start" in checks.get("_", "") else "observed"} for k, v in checks.items() if k != "_"],
    }


CELL = Cell("uvicorn", "0.20.0", "3.11", "2.x", "h11", "wsproto", "asyncio")


def test_classify_native_failure_and_shim_pass() -> None:
    data = {"python": "3.11.7", "results": [
        _record("off", False, {"S1": "fail", "S5": "fail", "S12": "skip"}),
        _record("on", True, {"S1": "pass", "S5": "pass", "S12": "pass"}, mode="add"),
    ]}
    outcome = classify(CELL, data)
    assert (outcome.native, outcome.shim, outcome.mode) == ("fail", "pass", "add")
    assert outcome.failed_native == ["S1", "S5"] and outcome.failed_shim == []


def test_classify_shim_failure_names_the_checks() -> None:
    data = {"results": [
        _record("off", False, {"S1": "fail"}),
        _record("on", False, {"S1": "pass", "S11": "fail", "S5": "fail"}, mode="add"),
    ]}
    outcome = classify(CELL, data)
    assert outcome.shim == "fail" and outcome.failed_shim == ["S5", "S11"]
    assert "S5" in outcome.reason and "S11" in outcome.reason


def test_classify_server_that_never_starts_is_cannot_run() -> None:
    data = {"results": [
        _record("off", False, {"_": "start", "S1": "fail", "S2": "fail"}),
        _record("on", False, {"_": "start", "S1": "fail", "S2": "fail"}),
    ]}
    outcome = classify(CELL, data)
    assert outcome.native == outcome.shim == "cannot-run"
    assert "server exited" in outcome.reason


def test_support_table_lists_every_range() -> None:
    table = support_table()
    for support in SUPPORTED.values():
        for entry in support.ranges:
            assert entry.low in table and entry.mode in table and entry.why in table
        assert support.newest_tested in table


def test_readme_table_has_a_row_per_server_with_its_modes() -> None:
    rows = {line.split(" | ")[0].lstrip("| ").split(" ")[0]: line for line in readme_table().splitlines()[3:]}
    assert set(rows) == set(SUPPORTED)
    for name, support in SUPPORTED.items():
        cells = [c.strip() for c in rows[name].strip("|").split("|")]
        assert cells[-1] == support.newest_tested
        for mode, cell in zip(("add", "fix", "native"), cells[1:4]):
            ranges = [r for r in support.ranges if r.mode == mode]
            # a mode the server has names its first release; one it has not is a dash
            assert (ranges[0].low in cell) if ranges else cell == "—", (name, mode, cell)


@pytest.mark.parametrize("path", [p for p, _ in TABLE_DOCUMENTS], ids=lambda p: p.name)
def test_support_tables_are_generated(path: Path) -> None:
    make = dict(TABLE_DOCUMENTS)[path]
    fragment = generated_fragment(path.read_text())
    assert fragment is not None, f"{path.name} has no generated support table"
    assert fragment.strip() == make().strip(), "run: python tools/matrix.py readme-table --write"


# -- the committed outputs -------------------------------------------------------------------------

JSON_PATH = ROOT / "compat_matrix.json"
needs_matrix = pytest.mark.skipif(not JSON_PATH.exists(), reason="compat_matrix.json not generated yet")


@needs_matrix
def test_markdown_is_generated_from_the_json() -> None:
    records = json.loads(JSON_PATH.read_text())
    assert (ROOT / "compat_matrix.md").read_text() == render_markdown(records), (
        "compat_matrix.md differs from what compat_matrix.json renders to: python tools/matrix.py render"
    )


@needs_matrix
def test_json_cells_have_the_documented_keys() -> None:
    keys = {"server", "server_version", "python", "wrapt", "http", "ws", "worker", "native", "shim", "mode",
            "failed_checks", "reason"}
    for record in json.loads(JSON_PATH.read_text()):
        assert keys <= set(record), record.get("id")
        assert record["native"] in ("pass", "fail", "cannot-run")
        assert record["shim"] in ("pass", "fail", "cannot-run")
        if record["native"] == "cannot-run" or record["shim"] == "cannot-run":
            assert record["reason"], record["id"]


@needs_matrix
def test_json_covers_every_supported_release_family() -> None:
    records = json.loads(JSON_PATH.read_text())
    present = {r["server"] for r in records}
    assert {"uvicorn", "hypercorn"} <= present
    # A server whose row the runtime table just gained joins with the next full run.
    for server, support in SUPPORTED.items():
        if server not in present:
            continue
        versions = {Version(r["server_version"]) for r in records if r["server"] == server}
        assert Version(support.newest_tested) in versions
        for entry in support.ranges:
            assert any(entry.contains(v) for v in versions), (server, entry)
        pythons = {r["python"] for r in records if r["server"] == server}
        assert pythons == set(pythons_for(server))


@needs_matrix
def test_ci_subset_has_two_pythons_per_release() -> None:
    chosen = ci_cells(json.loads(JSON_PATH.read_text()))
    for server in ("uvicorn", "hypercorn"):
        versions = {c.server_version for c in chosen if c.server == server}
        assert len(versions) >= 3
        for version in versions:
            assert len({c.python for c in chosen if (c.server, c.server_version) == (server, version)}) >= 2
