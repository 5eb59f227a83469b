"""The GitHub Action (action.yml) run locally against real uvicorn releases: its check step with
bash as a runner runs it (tests/action_support.py), the summary and the step outputs in temporary
files, the artifact upload left to GitHub. The newest release passes; uvicorn 0.21.0 (one state
copy per keep-alive connection) fails S5 and fails the step; 0.17.6 (no lifespan state) passes
with ``shim: both``, the shim fixing what fails natively. The install step puts the kit from this
checkout and a server into a fresh environment, and the check step then runs there.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

from tools.envs import EnvSpec, ensure_env, python_for
from tools.releases import SERVERS

from action_support import run_step
from lifespan_state import __version__
from lifespan_state.check import CHECKS

_UVICORN = SERVERS["uvicorn"]
COMMAND = "{python} -m uvicorn {app} --host {host} --port {port}"


def _python(version: str) -> str:
    # the same environments as tests/integration/test_check_kit.py (uvicorn picks wsproto for S6)
    return str(ensure_env(EnvSpec("uvicorn", version, extra=("wsproto",))) / "bin" / "python")


def _outputs(tmp: Path) -> Dict[str, str]:
    lines = (tmp / "output.txt").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def _rows(summary: str) -> Dict[str, List[str]]:
    """check id -> its cells, from the summary's table."""
    rows: Dict[str, List[str]] = {}
    for line in summary.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| S") and cells[0].split()[0] in CHECKS:
            rows[cells[0].split()[0]] = cells[1:]
    return rows


def _check(version: str, tmp: Path, **given: str) -> Tuple[subprocess.CompletedProcess[str], str]:
    done = run_step("check", {"command": COMMAND, "python": _python(version), **given}, tmp,
                    extra_env={"GITHUB_ACTIONS": "true"})
    return done, (tmp / "summary.md").read_text()


def test_newest_release_passes_and_the_summary_has_the_table(tmp_path: Path) -> None:
    done, summary = _check(_UVICORN.newest, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary.startswith("### lifespan-state check: passed\n")
    assert f"lifespan-state-shim {__version__}" in summary
    rows = _rows(summary)
    assert list(rows) == list(CHECKS)
    # S12: natively; S13: a server serves nothing after its run
    assert {k: v for k, v in rows.items() if v != ["pass"]} == {"S12": ["n/a"], "S13": ["n/a"]}
    assert f"- **A** = uvicorn {_UVICORN.newest} native; command=`{COMMAND}`" in summary
    outputs = _outputs(tmp_path)
    assert outputs["passed"] == "true"
    # the artifact: the kit's JSON document, where the upload step looks for it
    report = Path(outputs["report"])
    assert report == tmp_path / "lifespan-state-check" / "report.json"
    (record,) = json.loads(report.read_text())["results"]
    assert record["server"] == "uvicorn" and record["server_version"] == _UVICORN.newest
    assert record["passed"] is True and record["shim"] == "off"
    assert "::error" not in done.stdout


def test_a_buggy_release_fails_the_step_and_the_summary_says_why(tmp_path: Path) -> None:
    done, summary = _check(_UVICORN.buggy, tmp_path, checks="S1,S3,S5")
    assert done.returncode == 1, done.stdout + done.stderr
    assert summary.startswith("### lifespan-state check: failed (exit 1)\n")
    assert _rows(summary) == {"S1": ["pass"], "S3": ["pass"], "S5": ["**FAIL**"]}
    assert "**What failed:**" in summary
    (failed,) = [line for line in summary.splitlines() if line.startswith("- A S5: ")]
    assert "keep-alive" in failed
    outputs = _outputs(tmp_path)
    assert outputs["passed"] == "false"
    (record,) = json.loads(Path(outputs["report"]).read_text())["results"]
    assert [c["id"] for c in record["checks"] if c["status"] == "fail"] == ["S5"]
    (annotation,) = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    title = "::error title=lifespan-state check S5::"
    assert annotation.startswith(f"{title}uvicorn {_UVICORN.buggy} natively: ")


def test_with_shim_both_a_release_the_shim_fixes_passes(tmp_path: Path) -> None:
    done, summary = _check(_UVICORN.debian, tmp_path, shim="both", checks="S1,S5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _rows(summary) == {"S1": ["**FAIL**", "pass"], "S5": ["**FAIL**", "pass"]}
    assert "the shim fixes S1, S5" in summary
    assert _outputs(tmp_path)["passed"] == "true"
    assert "::error" not in done.stdout  # the native failures are not what the job is judged on


def test_install_step_then_check_step_in_a_fresh_environment(tmp_path: Path) -> None:
    """The action's two shell steps as a job runs them: the kit from this checkout (not editable:
    a wheel built from it) and a server release into a new virtual environment, then the check."""
    venv = tmp_path / "venv"
    subprocess.run([python_for("3.11"), "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    given = {"python": python, "install": f"uvicorn=={_UVICORN.newest} wsproto"}
    installed = run_step("install the kit", given, tmp_path, timeout=900)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    done = run_step("check", {**given, "command": COMMAND, "checks": "S1,S2,S6"}, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _rows((tmp_path / "summary.md").read_text()) == {"S1": ["pass"], "S2": ["pass"], "S6": ["pass"]}
    (record,) = json.loads(Path(_outputs(tmp_path)["report"]).read_text())["results"]
    assert record["server_version"] == _UVICORN.newest
