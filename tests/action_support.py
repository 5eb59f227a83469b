"""The GitHub Action at the repository's root (action.yml) as its tests read and run it.

:func:`run_step` runs one ``run:`` step of the action with bash the way a runner does: the step's
``env:`` with its expressions evaluated, ``GITHUB_ACTION_PATH`` the checkout, ``RUNNER_TEMP`` and
the step's summary and output files where the caller says. Only the expressions action.yml uses
are understood (``inputs.X``, ``github.action_path``, a skipped step's output, ``a || b``); any
other one fails the test, so a new expression is taught here on purpose. ``uses:`` steps (Python
set-up, the artifact upload) are GitHub's own actions and do not run here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Mapping, Optional

import pytest

from script_support import ROOT

__all__ = ["ACTION", "SCRIPT", "action", "expand", "inputs_with_defaults", "run_step", "script", "step"]

ACTION = ROOT / "action.yml"
SCRIPT = ROOT / ".github" / "action" / "check.py"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def action() -> Dict[str, Any]:
    yaml = pytest.importorskip("ruamel.yaml", reason="ruamel.yaml comes with check-jsonschema")
    data: Dict[str, Any] = yaml.YAML(typ="safe").load(ACTION.read_text())
    return data


def script() -> ModuleType:
    """.github/action/check.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("action_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step(step_id_or_name: str) -> Dict[str, Any]:
    steps = action()["runs"]["steps"]
    found = [s for s in steps if step_id_or_name in (s.get("id"), s.get("name"))]
    assert len(found) == 1, f"no single step {step_id_or_name!r} in action.yml"
    return found[0]


def inputs_with_defaults(given: Mapping[str, str]) -> Dict[str, str]:
    declared = action()["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"action.yml has no input {sorted(unknown)}"
    return {name: str(given.get(name, spec.get("default", ""))) for name, spec in declared.items()}


def _evaluate(expression: str, inputs: Mapping[str, str]) -> str:
    for operand in (part.strip() for part in expression.split("||")):
        if operand.startswith("inputs."):
            value = inputs[operand[len("inputs."):]]
        elif operand == "github.action_path":
            value = str(ROOT)
        elif operand.startswith("steps.setup-python.outputs."):
            value = ""  # the Python set-up runs only with python-version, which local runs leave empty
        else:
            pytest.fail(f"action.yml uses an expression the local runner does not know: {operand}")
        if value:
            return value
    return ""


def expand(text: str, inputs: Mapping[str, str]) -> str:
    return _EXPRESSION.sub(lambda m: _evaluate(m.group(1), inputs), text)


def run_step(name: str, given: Mapping[str, str], tmp: Path, *, timeout: float = 600,
             extra_env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess[str]:
    """Run action.yml's step ``name`` with the inputs ``given`` (the rest: their defaults)."""
    found = step(name)
    assert found.get("shell") == "bash" and "run" in found, found
    inputs = inputs_with_defaults(given)
    assert not inputs["python-version"], "a local run uses the python input, not setup-python"
    env = dict(os.environ)
    env.pop("GITHUB_ACTIONS", None)
    env.update({
        "GITHUB_ACTION_PATH": str(ROOT), "RUNNER_TEMP": str(tmp),
        "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"), "GITHUB_OUTPUT": str(tmp / "output.txt"),
        **{key: expand(str(value), inputs) for key, value in found.get("env", {}).items()},
        **(extra_env or {}),
    })
    assert "${{" not in found["run"], "inputs reach the shell through env: only"
    # GitHub's own command line for `shell: bash`
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", found["run"]],
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)
