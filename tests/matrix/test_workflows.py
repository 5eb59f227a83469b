"""The GitHub Actions workflows validate against GitHub's workflow schema (check-jsonschema's
vendored ``vendor.github-workflows``, offline), and the matrix workflow runs the shards the way
``tools/matrix.py`` splits the plan: K = 1..N, N the number of shard jobs, then one merge with
``--check``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest

from script_support import ROOT, github_schema

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _load(path: Path) -> Dict[str, Any]:
    yaml = pytest.importorskip("ruamel.yaml", reason="ruamel.yaml comes with check-jsonschema")
    data: Dict[str, Any] = yaml.YAML(typ="safe").load(path.read_text())
    return data


def test_there_is_a_matrix_workflow() -> None:
    assert ROOT / ".github" / "workflows" / "matrix.yml" in WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_validates_against_the_github_schema(path: Path) -> None:
    proc = github_schema("vendor.github-workflows", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_validator_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """Negative control: the same workflow with a job that has no runner, and with a misspelt key."""
    text = (ROOT / ".github" / "workflows" / "matrix.yml").read_text()
    no_runner = tmp_path / "no-runner.yml"
    no_runner.write_text(text.replace("    runs-on: ubuntu-24.04\n", "", 1))
    misspelt = tmp_path / "misspelt.yml"
    misspelt.write_text(text.replace("    needs: shard\n", "    need: shard\n", 1))
    for broken in (no_runner, misspelt):
        assert broken.read_text() != text
        proc = github_schema("vendor.github-workflows", broken)
        assert proc.returncode != 0, f"{broken.name} validated: {proc.stdout}"


def test_matrix_workflow_runs_every_shard_then_merges_with_check() -> None:
    data = _load(ROOT / ".github" / "workflows" / "matrix.yml")
    shard_job, merge_job = data["jobs"]["shard"], data["jobs"]["merge"]
    ks = shard_job["strategy"]["matrix"]["shard"]
    assert ks == list(range(1, len(ks) + 1)) and len(ks) >= 3, ks
    assert shard_job["strategy"]["fail-fast"] is False  # one slow shard must not cancel the others
    runs = " ".join(str(step.get("run", "")) for step in shard_job["steps"])
    assert "tools/matrix.py run --shard ${{ matrix.shard }}/${{ strategy.job-total }}" in runs
    assert "--out matrix-shard-${{ matrix.shard }}.json" in runs
    uploads = [s for s in shard_job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["with"]["path"] == "matrix-shard-${{ matrix.shard }}.json"
    assert merge_job["needs"] == "shard"
    downloads = [
        s for s in merge_job["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact")
    ]
    assert downloads and downloads[0]["with"]["pattern"] == "matrix-shard-*"
    merge_runs = " ".join(str(step.get("run", "")) for step in merge_job["steps"])
    assert "tools/matrix.py merge --check shards/matrix-shard-*.json" in merge_runs
