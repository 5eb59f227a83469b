"""The tests and release workflows run what the docs say: lint, the unit tier on Python 3.8-3.14,
the default suite on two Pythons, the matrix subset; a release builds once, checks, and publishes
with trusted publishing. (Schema validation of every workflow: tests/matrix/test_workflows.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> Dict[str, Any]:
    yaml = pytest.importorskip("ruamel.yaml", reason="ruamel.yaml comes with check-jsonschema")
    data: Dict[str, Any] = yaml.YAML(typ="safe").load((WORKFLOWS / name).read_text())
    return data


def _runs(job: Dict[str, Any]) -> List[str]:
    return [str(step.get("run", "")) for step in job["steps"]]


def _triggers(data: Dict[str, Any]) -> Dict[str, Any]:
    # YAML 1.1 reads the key `on` as True
    triggers: Dict[str, Any] = data.get("on", data.get(True))
    return triggers


def test_tests_run_on_push_and_pull_request() -> None:
    triggers = _triggers(_load("ci.yml"))
    assert "push" in triggers and "pull_request" in triggers


def test_unit_tier_on_every_supported_python_and_the_newest() -> None:
    jobs = _load("ci.yml")["jobs"]
    unit = jobs["unit"]
    pythons = unit["strategy"]["matrix"]["python"]
    assert pythons == [f"3.{minor}" for minor in range(8, 15)], pythons
    assert unit["strategy"]["fail-fast"] is False
    assert "python -m pytest tests/unit" in _runs(unit)
    assert any("bash .ci/install test" in run for run in _runs(unit))


def test_default_suite_on_two_pythons_lint_and_the_matrix_subset() -> None:
    jobs = _load("ci.yml")["jobs"]
    assert len(jobs["suite"]["strategy"]["matrix"]["python"]) == 2
    assert "python -m pytest" in _runs(jobs["suite"])
    lint = " ".join(_runs(jobs["lint"]))
    assert "ruff check ." in lint and "mypy" in lint and ".ci/install lint" in lint
    assert "python tools/matrix.py ci" in _runs(jobs["matrix-subset"])


def _unpinned_uv(run: str) -> bool:
    """A ``pip install`` of uv without ``==`` (uv builds the matrix's environments: a new release
    must come in a commit, not with the next run)."""
    return any(re.search(r"pip install .*\buv(?![=\w-])", line) for line in run.splitlines())


def test_uv_is_pinned_wherever_a_workflow_installs_it() -> None:
    assert _unpinned_uv("python -m pip install -e . uv") and not _unpinned_uv("pip install uv==0.13.10")
    installs = [run for name in ("ci.yml", "matrix.yml") for job in _load(name)["jobs"].values()
                for run in _runs(job) if "pip install" in run and re.search(r"\buv\b", run)]
    assert installs and not any(_unpinned_uv(run) for run in installs), installs


def test_release_builds_once_checks_and_publishes_with_trusted_publishing() -> None:
    data = _load("release.yml")
    tags = _triggers(data)["push"]["tags"]
    assert tags == ["v*"]
    build, publish = data["jobs"]["build"], data["jobs"]["publish"]
    runs = " ".join(_runs(build))
    assert "python -m build" in runs and "twine check" in runs
    assert [s for s in build["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert publish["needs"] == "build"
    assert publish["environment"]["name"] == "pypi"
    assert publish["permissions"] == {"id-token": "write"}
    assert data["permissions"] == {"contents": "read"}  # only the publish job may mint a token
    uses = [s for s in publish["steps"] if str(s.get("uses", "")).startswith("pypa/gh-action-pypi-publish")]
    (step,) = uses
    assert step["with"]["attestations"] is True
    assert not any("python -m build" in run for run in _runs(publish))  # built once, in build


def test_matrix_merge_runs_after_a_failed_shard() -> None:
    data = _load("matrix.yml")
    assert data["jobs"]["merge"]["if"] == "${{ !cancelled() }}"
    assert "tools/releases.py" in _triggers(data)["push"]["paths"]


def test_the_action_job_passes_the_newest_uvicorn_and_fails_a_buggy_one() -> None:
    """The action at the root, used as a server's CI would (``uses: ./``), on the releases
    tools/releases.py names: the newest must pass, the buggy one must fail the action."""
    from tools.releases import SERVERS

    uvicorn = SERVERS["uvicorn"]
    steps = {s.get("id"): s for s in _load("ci.yml")["jobs"]["action"]["steps"]}
    newest, buggy = steps["newest"], steps["buggy"]
    assert newest["uses"] == buggy["uses"] == "./"
    assert newest["with"]["install"].split()[0] == f"uvicorn=={uvicorn.newest}"
    assert buggy["with"]["install"].split()[0] == f"uvicorn=={uvicorn.buggy}"
    assert buggy["continue-on-error"] is True and "continue-on-error" not in newest
    verdict = " ".join(_runs({"steps": list(steps.values())}))
    assert 'test "$OUTCOME" = failure' in verdict and 'test "$NEWEST" = true' in verdict
