"""``merge --check`` and ``ci`` compare what the matrix claims, not its bytes: synthetic shards
(no server runs) against a committed matrix. Resolved versions or a reason's wording that changed
pass with a note; a changed verdict, mode or list of failing checks fails; a missing shard is
named while the shards that are there are still compared. And the normalisation that keeps
machine-only text out of committed reasons.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
import tools.matrix as matrix
from packaging.version import Version
from tools.matrix import NO_NETWORK, Cell, Outcome, _stable, compare, plan, releases, shard, shard_document

pytestmark = pytest.mark.unit

N = 3


@pytest.fixture(scope="module")
def cells() -> List[Cell]:
    return plan(
        {
            "uvicorn": releases("uvicorn", [Version(v) for v in ("0.11.8", "0.17.6", "0.21.0", "0.54.0")]),
            "hypercorn": releases("hypercorn", [Version(v) for v in ("0.13.2", "0.17.3", "0.18.0")]),
        }
    )


def _outcome(cell: Cell) -> Outcome:
    """A made-up result per cell, deterministic in its id: some cannot run, some add, some fix."""
    pick = sum(map(ord, cell.id)) % 3
    if pick == 0:
        return Outcome(cell, "cannot-run", "cannot-run", None, [], [],
                       "does not install: Because the current Python version (3.8.18) does not satisfy "
                       "Python>=3.10", versions={"wrapt": "2.0.1"})  # fmt: skip
    return Outcome(cell, "fail", "pass", "add" if pick == 1 else "fix", ["S1", "S5"], [], "",
                   versions={"wrapt": "2.0.1", "h11": "0.14.0"})  # fmt: skip


def _records(cells: List[Cell]) -> List[Dict[str, Any]]:
    return [_outcome(c).record() for c in cells]


Edit = Callable[[Dict[str, Any]], None]


def _shards(cells: List[Cell], tmp_path: Path, edits: Dict[str, Edit]) -> List[str]:
    """The shard files of a fresh run whose records are the committed ones, changed by ``edits``
    (cell id -> what changed in that cell's record)."""
    files = []
    for k in range(1, N + 1):
        mine = shard(cells, k, N)
        doc = shard_document(k, N, mine, map(_outcome, mine))
        for record in doc["records"]:
            if record["id"] in edits:
                edits[record["id"]](record)
        path = tmp_path / f"matrix-shard-{k}.json"
        path.write_text(json.dumps(doc))
        files.append(str(path))
    return files


@pytest.fixture()
def committed(
    cells: List[Cell], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Tuple[Path, Path, List[Dict[str, Any]]]:
    monkeypatch.setattr(matrix, "plan", lambda available=None: list(cells))
    json_path, md_path = tmp_path / "compat_matrix.json", tmp_path / "compat_matrix.md"
    records = _records(cells)
    matrix.write_json(records, json_path)
    md_path.write_text(matrix.render_markdown(records))
    return json_path, md_path, records


def _merge(files: List[str], json_path: Path, md_path: Path) -> int:
    return matrix.main(["merge", "--check", "--json", str(json_path), "--md", str(md_path), *files])


def _first(records: List[Dict[str, Any]], native: str) -> str:
    return next(r["id"] for r in records if r["native"] == native)


def test_the_same_results_merge_clean(
    cells: List[Cell], tmp_path: Path, committed: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    json_path, md_path, _ = committed
    before = json_path.read_bytes()
    assert _merge(_shards(cells, tmp_path, {}), json_path, md_path) == 0
    assert json_path.read_bytes() == before
    err = capsys.readouterr().err
    assert "DIFFERS" not in err and "drift" not in err, err


def test_new_versions_and_reworded_reasons_pass_with_a_note(
    cells: List[Cell], tmp_path: Path, committed: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    json_path, md_path, records = committed
    ran, stopped = _first(records, "fail"), _first(records, "cannot-run")

    def new_h11(record: Dict[str, Any]) -> None:
        record["versions"]["h11"] = "0.16.0"  # a dependency released since the committed run

    def reworded(record: Dict[str, Any]) -> None:
        record["reason"] = "does not install: no release of the server supports Python 3.8"

    assert _merge(_shards(cells, tmp_path, {ran: new_h11, stopped: reworded}), json_path, md_path) == 0
    err = capsys.readouterr().err
    assert f"drift   {ran}: versions h11 0.14.0 -> 0.16.0" in err, err
    assert f"drift   {stopped}: reason worded" in err, err
    assert "not a failure" in err and "DIFFERS" not in err, err
    # the merged files record the new details, for whoever commits them
    written = {r["id"]: r for r in json.loads(json_path.read_text())}
    assert written[ran]["versions"]["h11"] == "0.16.0"


@pytest.mark.parametrize(
    ("native", "change", "claim"),
    [
        ("fail", lambda r: r.update(shim="fail", failed_checks={"native": ["S1", "S5"], "shim": ["S5"]}),
         "shim"),
        ("fail", lambda r: r.update(failed_checks={"native": ["S1"], "shim": []}), "failed_checks"),
        ("fail", lambda r: r.update(mode="native"), "mode"),
        ("cannot-run", lambda r: r.update(native="fail", shim="pass", mode="add"), "native"),
    ],
    ids=["verdict", "failing-checks", "mode", "now-runs"],
)
def test_a_changed_claim_fails(
    cells: List[Cell], tmp_path: Path, committed: Any, capsys: pytest.CaptureFixture[str],
    native: str, change: Edit, claim: str,
) -> None:  # fmt: skip
    json_path, md_path, records = committed
    cell_id = _first(records, native)
    assert _merge(_shards(cells, tmp_path, {cell_id: change}), json_path, md_path) == 1
    err = capsys.readouterr().err
    assert f"DIFFERS {cell_id}: {claim}: committed" in err, err


def test_a_missing_shard_is_named_and_the_others_still_compared(
    cells: List[Cell], tmp_path: Path, committed: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    json_path, md_path, records = committed
    first_shard = [c.id for c in shard(cells, 1, N)]
    changed = next(r["id"] for r in records if r["id"] in first_shard and r["native"] == "fail")
    files = _shards(cells, tmp_path, {changed: lambda r: r.update(shim="fail")})
    assert _merge(files[:2], json_path, md_path) == 1  # the changed claim, in a shard that is there
    err = capsys.readouterr().err
    missing = len(shard(cells, 3, N))
    assert f"MISSING shard 3/3: no result file (its job failed or uploaded nothing); its {missing} " in err
    assert f"DIFFERS {changed}: shim" in err
    # the missing shard's cells keep their committed records in the files written
    assert {r["id"] for r in json.loads(json_path.read_text())} == {c.id for c in cells}
    # without a changed claim, the missing shard alone still fails, saying so
    matrix.write_json(records, json_path)
    assert _merge(_shards(cells, tmp_path, {})[:2], json_path, md_path) == 2
    assert "shard(s) 3/3 missing" in capsys.readouterr().err


def test_ci_uses_the_same_comparison(cells: List[Cell]) -> None:
    old = _records(cells)
    new = copy.deepcopy(old)
    new[0]["versions"]["wrapt"] = "2.5.2"
    new[1]["shim"] = "fail"
    result = compare(old, new)
    assert list(result.differs) == [new[1]["id"]] and list(result.drifted) == [new[0]["id"]]
    assert not result.agrees


@pytest.mark.parametrize(
    ("raw", "stable"),
    [
        ("Because the current Python version (3.8.18) does not satisfy Python>=3.10",
         "Because the current Python version (3.8) does not satisfy Python>=3.10"),
        ("server exited with status 1: Python 3.13.0 is not supported", "server exited with status 1: "
         "Python 3.13 is not supported"),
        ("does not install: error: Failed to build `granian==1.0.2` error: failed to get `pyo3-asyncio` as a "
         "dependency of package `granian v1.0.2`", NO_NETWORK),
        ("S5: uvicorn 0.17.6 shared one copy", "S5: uvicorn 0.17.6 shared one copy"),  # not a Python
        ("depends on Python>=3.10.1", "depends on Python>=3.10.1"),  # a requirement, not a machine
    ],
)
def test_reasons_hold_no_machine_only_text(raw: str, stable: str) -> None:
    assert _stable(raw) == stable
    assert _stable(stable) == stable  # idempotent: render may run it over stored records again


def test_render_renormalises_stored_records(tmp_path: Path, cells: List[Cell]) -> None:
    json_path, md_path = tmp_path / "m.json", tmp_path / "m.md"
    # as committed before the normalisation existed (a run's record() applies it already)
    records = [{**r, "reason": r["reason"].replace("(3.8)", "(3.8.18)")} for r in _records(cells)]
    matrix.write_json(records, json_path)
    assert "(3.8.18)" in json_path.read_text()
    assert matrix.main(["render", "--json", str(json_path), "--md", str(md_path)]) == 0
    once = json_path.read_bytes()
    assert b"(3.8.18)" not in once and b"Python version (3.8) does not satisfy" in once
    assert md_path.read_text() == matrix.render_markdown(json.loads(once))
    assert matrix.main(["render", "--json", str(json_path), "--md", str(md_path)]) == 0
    assert json_path.read_bytes() == once


def test_the_committed_matrix_holds_no_machine_only_text() -> None:
    """What ``render`` leaves in compat_matrix.json: every reason already normalised."""
    records = json.loads((Path(matrix.ROOT) / "compat_matrix.json").read_text())
    assert records
    assert [r["id"] for r in records if _stable(r["reason"]) != r["reason"]] == []
