"""The matrix split into shards and put back together (``tools/matrix.py plan/run --shard K/N``,
``merge``), without running servers: the plan comes from a fixed release list and the cells'
outcomes are made up here, since what is tested is the bookkeeping — that the shards partition
the plan and that merging their files writes the bytes of one full run.

Real cell runs: ``tools/matrix.py run`` / ``ci`` and tests/integration/test_uvicorn_releases.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Dict, List

import pytest
import tools.matrix as matrix
from packaging.version import Version
from tools.matrix import (
    Cell,
    MergeError,
    Outcome,
    merge_shards,
    parse_shard,
    plan,
    releases,
    render_markdown,
    shard,
    shard_document,
    write_json,
)

UVICORN_INDEX = ["0.11.8", "0.12.3", "0.13.4", "0.17.6", "0.20.0", "0.21.0", "0.21.1", "0.34.3", "0.54.0"]
HYPERCORN_INDEX = ["0.11.0", "0.13.2", "0.14.2", "0.16.0", "0.17.0", "0.17.3", "0.18.0"]


@pytest.fixture(scope="module")
def cells() -> List[Cell]:
    return plan(
        {
            "uvicorn": releases("uvicorn", [Version(v) for v in UVICORN_INDEX]),
            "hypercorn": releases("hypercorn", [Version(v) for v in HYPERCORN_INDEX]),
        }
    )


def _outcome(cell: Cell) -> Outcome:
    """A made-up but varied result per cell (deterministic in the cell id)."""
    pick = sum(map(ord, cell.id)) % 4
    if pick == 0:
        return Outcome(cell, "cannot-run", "cannot-run", None, [], [], "does not install: no wheel",
                       versions={"wrapt": "2.0.1"})  # fmt: skip
    native_fails = [] if pick == 1 else ["S1", "S5"]
    return Outcome(cell, "pass" if pick == 1 else "fail", "pass", "fix" if pick == 2 else "add",
                   native_fails, [], "", versions={"wrapt": "2.0.1", "h11": "0.14.0"})  # fmt: skip


@pytest.mark.parametrize("text, expected", [("1/1", (1, 1)), ("2/3", (2, 3)), (" 3 / 3 ", (3, 3))])
def test_parse_shard(text: str, expected: Any) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "3", "a/b", "1/3/5", "-1/3"])
def test_parse_shard_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match=r"K/N|between 1 and N"):
        parse_shard(text)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 16])
def test_shards_partition_the_plan(cells: List[Cell], n: int) -> None:
    parts = [shard(cells, k, n) for k in range(1, n + 1)]
    ids = [[c.id for c in part] for part in parts]
    # union = plan, pairwise disjoint
    assert sorted(i for part in ids for i in part) == sorted(c.id for c in cells)
    for a in range(n):
        for b in range(a + 1, n):
            assert not set(ids[a]) & set(ids[b]), (a + 1, b + 1)
    # balanced: sizes within one cell of each other
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= 1, sizes


def test_shards_are_deterministic(cells: List[Cell]) -> None:
    shuffled = list(cells)
    random.Random(7).shuffle(shuffled)
    for k in (1, 2, 3):
        assert [c.id for c in shard(shuffled, k, 3)] == [c.id for c in shard(cells, k, 3)]


def test_shards_mix_servers(cells: List[Cell]) -> None:
    # each of 3 shards gets both servers (blocks of the sorted plan would not)
    for k in (1, 2, 3):
        assert {c.server for c in shard(cells, k, 3)} == {"uvicorn", "hypercorn"}


def test_more_shards_than_cells_leaves_some_empty(cells: List[Cell]) -> None:
    n = len(cells) + 2
    parts = [shard(cells, k, n) for k in range(1, n + 1)]
    assert sum(map(len, parts)) == len(cells) and parts[-1] == []


def test_shard_refuses_k_outside_n(cells: List[Cell]) -> None:
    with pytest.raises(ValueError):
        shard(cells, 4, 3)


def _documents(cells: List[Cell], n: int) -> List[Dict[str, Any]]:
    return [
        shard_document(k, n, shard(cells, k, n), map(_outcome, shard(cells, k, n))) for k in range(1, n + 1)
    ]


@pytest.mark.parametrize("n", [1, 3, 5])
def test_merge_writes_the_bytes_of_one_full_run(cells: List[Cell], n: int, tmp_path: Path) -> None:
    full = [o.record() for o in map(_outcome, cells)]
    write_json(full, tmp_path / "full.json")
    documents = _documents(cells, n)
    # through JSON files, as the workflow's artifacts carry them
    merged = merge_shards([json.loads(json.dumps(d)) for d in documents], [c.id for c in cells])
    write_json(merged, tmp_path / "merged.json")
    assert (tmp_path / "merged.json").read_bytes() == (tmp_path / "full.json").read_bytes()
    assert render_markdown(merged) == render_markdown(full)


def test_merge_refuses_an_incomplete_or_inconsistent_set(cells: List[Cell]) -> None:
    planned = [c.id for c in cells]
    docs = _documents(cells, 3)
    with pytest.raises(MergeError, match="3/3 missing"):
        merge_shards(docs[:2], planned)
    with pytest.raises(MergeError, match="given twice"):
        merge_shards([docs[0], docs[0], docs[1], docs[2]], planned)
    with pytest.raises(MergeError, match="different splits"):
        merge_shards([*docs, _documents(cells, 4)[3]], planned)
    with pytest.raises(MergeError, match="no shard result"):
        merge_shards([], planned)
    # a shard that lost a record
    broken = json.loads(json.dumps(docs[1]))
    broken["records"].pop()
    with pytest.raises(MergeError, match="records do not match its cells"):
        merge_shards([docs[0], broken, docs[2]], planned)
    # a shard that ran another plan's cells (e.g. the plan changed between the jobs)
    with pytest.raises(MergeError, match="other cells than the plan"):
        merge_shards(docs, planned[1:])
    with pytest.raises(MergeError, match="not a shard result"):
        merge_shards([{"records": []}], planned)
    # the same set is accepted
    assert len(merge_shards(docs, planned)) == len(cells)


def test_commands_run_shards_then_merge_and_check(
    cells: List[Cell], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --shard K/N`` for each K, then ``merge --check``: the committed files are what a full
    run writes, and a difference fails the check."""
    monkeypatch.setattr(matrix, "plan", lambda available=None: list(cells))
    ran: List[str] = []

    def fake_run_cell(cell: Cell) -> Outcome:
        ran.append(cell.id)
        return _outcome(cell)

    monkeypatch.setattr(matrix, "run_cell", fake_run_cell)
    files = []
    for k in (1, 2, 3):
        out = tmp_path / f"s{k}.json"
        assert matrix.main(["run", "--shard", f"{k}/3", "--out", str(out), "--workers", "2"]) == 0
        files.append(str(out))
        assert json.loads(out.read_text())["cells"] == [c.id for c in shard(cells, k, 3)]
    assert sorted(ran) == sorted(c.id for c in cells)  # every cell exactly once over the shards
    # one full run, for the reference bytes
    full_json, full_md = tmp_path / "full.json", tmp_path / "full.md"
    assert matrix.main(["run", "--json", str(full_json), "--md", str(full_md)]) == 0
    # committed == full run: --check passes and the files are byte-identical
    committed_json, committed_md = tmp_path / "c.json", tmp_path / "c.md"
    committed_json.write_bytes(full_json.read_bytes())
    committed_md.write_bytes(full_md.read_bytes())
    args = ["merge", "--check", "--json", str(committed_json), "--md", str(committed_md), *files]
    assert matrix.main(args) == 0
    assert committed_json.read_bytes() == full_json.read_bytes()
    assert committed_md.read_bytes() == full_md.read_bytes()
    # a committed file that differs from the merged result fails --check, naming the cell
    records = json.loads(full_json.read_text())
    records[0]["shim"] = "fail"
    committed_json.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    capsys.readouterr()
    assert matrix.main(args) == 1
    assert f"DIFFERS {records[0]['id']}: shim" in capsys.readouterr().err
    assert committed_json.read_bytes() == full_json.read_bytes()  # the merged result was written
    # a missing shard is one clear message, not a traceback
    assert matrix.main(["merge", "--json", str(committed_json), "--md", str(committed_md), *files[:2]]) == 2
    assert "missing" in capsys.readouterr().err
    # plan --shard lists exactly the shard's cells
    capsys.readouterr()
    assert matrix.main(["plan", "--shard", "2/3"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [c.id for c in shard(cells, 2, 3)]
