"""The GitHub Action at the repository's root (action.yml) and its check step, offline: the action
validates against GitHub's action schema (check-jsonschema's vendored ``vendor.github-actions``);
every input reaches the script with the same default; the script's arguments for the kit, its
report when the kit cannot run, and the Markdown table. Real runs: tests/integration/test_action.py.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from action_support import ACTION, action, script, step
from lifespan_state.check._markdown import render_markdown
from lifespan_state.check._records import ResultRecord
from script_support import github_schema


def test_action_validates_against_the_github_action_schema() -> None:
    done = github_schema("vendor.github-actions", ACTION)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_validator_rejects_a_broken_action(tmp_path: Path) -> None:
    """Negative control: a composite action without ``using``, and a run step without a shell."""
    text = ACTION.read_text()
    no_using = tmp_path / "no-using.yml"
    no_using.write_text(text.replace("  using: composite\n", "", 1))
    no_shell = tmp_path / "no-shell.yml"
    no_shell.write_text(text.replace("      shell: bash\n", "", 1))
    assert no_using.read_text() != text and no_shell.read_text() != text
    assert github_schema("vendor.github-actions", no_using).returncode != 0
    assert github_schema("vendor.github-actions", no_shell).returncode != 0


def _check_step_flags() -> Dict[str, str]:
    """``--flag`` -> the input whose value the check step passes after it."""
    found = step("check")
    env = {name: str(value) for name, value in found["env"].items()}
    words = shlex.split(found["run"])
    flags: Dict[str, str] = {}
    for flag, value in zip(words, words[1:]):
        if flag.startswith("--") and value.startswith("$") and value[1:] in env:
            expression = env[value[1:]]
            assert expression.startswith("${{ inputs.") and expression.endswith(" }}"), expression
            flags[flag[2:]] = expression[len("${{ inputs."):-len(" }}")]
    return flags


def test_every_input_reaches_the_script_with_the_same_default() -> None:
    declared = action()["inputs"]
    flags = _check_step_flags()
    assert all(flag == input_name for flag, input_name in flags.items()), flags
    parser = script()._parser()
    options = {a.dest for a in parser._actions if a.option_strings and a.dest != "help"}
    # --out is the step's own (a file under RUNNER_TEMP), not an input
    assert set(flags) == options - {"out"}
    for name in flags:
        assert parser.get_default(name) == declared[name].get("default", ""), name
    # The inputs that are not the script's are the set-up's and the upload's.
    rest = set(declared) - set(flags)
    assert rest == {"python", "python-version", "install", "artifact-name"}
    text = ACTION.read_text()
    assert all(f"inputs.{name} " in text for name in rest)
    assert declared["command"]["required"] is True


def test_the_check_step_runs_the_script_of_this_checkout() -> None:
    run = step("check")["run"]
    assert '"$GITHUB_ACTION_PATH/.github/action/check.py"' in run
    install = step("install the kit")["run"]
    assert '"$GITHUB_ACTION_PATH[check]"' in install  # the kit comes from the action's checkout
    uses = [s["uses"] for s in action()["runs"]["steps"] if "uses" in s]
    assert uses == ["actions/setup-python@v5", "actions/upload-artifact@v4"]


def test_the_report_is_uploaded_even_when_a_check_failed() -> None:
    steps = action()["runs"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always() && steps.check.outputs.report != ''"
    assert upload["with"]["path"] == "${{ steps.check.outputs.report }}"
    outputs = action()["outputs"]
    assert outputs["passed"]["value"] == "${{ steps.check.outputs.passed }}"


def _kit_arguments(**given: str) -> List[str]:
    module = script()
    args: List[str] = module.kit_arguments(module._parser().parse_args(
        [item for name, value in given.items() for item in (f"--{name}", value)]))
    return args


def test_empty_inputs_are_left_out_and_the_rest_become_kit_options() -> None:
    command = "{python} -m myserver {app} --bind {host}:{port}"
    assert _kit_arguments(command=command, name="", transports="", checks="", timeout="", args="") == [
        "--json", "--command", command, "--shim", "off"]
    assert _kit_arguments(command=command, name="my-server", transports="h1, ws h2c", tls="true",
                          checks="S1,S5", shim="both", timeout="30",
                          args="--option 'workers=2' --option x=1") == [
        "--json", "--command", command, "--shim", "both", "--name", "my-server",
        "--transport", "h1", "--transport", "ws", "--transport", "h2c", "--tls",
        "--checks", "S1,S5", "--timeout", "30", "--option", "workers=2", "--option", "x=1"]
    assert "--tls" not in _kit_arguments(command=command, tls="False")


@pytest.mark.parametrize(("given", "message"), [
    ({"command": "  "}, "--command is required"),
    ({"command": "x {app}", "tls": "yes"}, "--tls wants true or false, got 'yes'"),
    ({"command": "x {app}", "args": "--option 'a"}, "--args: No closing quotation"),
])
def test_bad_inputs_are_one_line_exit_2_and_a_summary(
    given: Dict[str, str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    argv = [item for name, value in given.items() for item in (f"--{name}", value)]
    assert script().main([*argv, "--out", str(tmp_path / "report.json")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"check.py: {message}")
    assert summary.read_text().startswith("### lifespan-state check: could not run (exit 2)")
    assert output.read_text() == "report=\npassed=false\n"
    assert not (tmp_path / "report.json").exists()


def test_a_kit_usage_error_is_in_the_summary_and_leaves_no_report(tmp_path: Path) -> None:
    """The kit itself refuses (exit 2, before any server starts): its message reaches the summary,
    and there is no report for the upload step."""
    summary, output, report = tmp_path / "summary.md", tmp_path / "output.txt", tmp_path / "r" / "report.json"
    env = dict(os.environ, GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(output))
    done = subprocess.run(
        [sys.executable, str(script().__file__), "--command", "{python} -m myserver {app}",
         "--checks", "S1,S99", "--out", str(report)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "unknown check S99" in done.stderr
    text = summary.read_text()
    assert text.startswith("### lifespan-state check: could not run (exit 2)")
    assert "unknown check S99" in text
    assert output.read_text() == "report=\npassed=false\n"
    assert not report.exists()


def _record(shim: str, checks: List[Dict[str, str]], **config: str) -> ResultRecord:
    data: Dict[str, Any] = {"server": "myserver", "server_version": "1.2", "config": config,
                            "shim": shim, "mode": "fix" if shim == "on" else None, "checks": checks}
    return ResultRecord.from_dict(data)


def test_markdown_table_escapes_what_servers_and_checks_wrote() -> None:
    command = "{python} -m my`server {app} | tee"
    native = _record("off", [
        {"id": "S1", "status": "pass", "detail": ""},
        {"id": "S5", "status": "fail", "detail": "driver: <class 'KeyError'> | a & b"},
        {"id": "S12", "status": "skip", "detail": "shim off"},
    ], command=command)
    shimmed = _record("on", [
        {"id": "S1", "status": "pass", "detail": ""},
        {"id": "S5", "status": "pass", "detail": ""},
        {"id": "S12", "status": "skip", "detail": "the shim has work to do"},
    ], command=command)
    text = render_markdown([native, shimmed])
    lines = text.splitlines()
    assert lines[:5] == [
        "| check | A | B |", "|---|---|---|",
        "| S1 lifespan scope has state | pass | pass |",
        "| S5 per request, not per connection | **FAIL** | pass |",
        "| S12 no double work | n/a | n/a |",
    ]
    assert "- **A** = myserver 1.2 native; command=``{python} -m my`server {app} | tee``" in lines
    assert "- **B** = myserver 1.2 shim (mode fix); command=``{python} -m my`server {app} | tee``" in lines
    assert "- A S5: driver: &lt;class 'KeyError'&gt; \\| a &amp; b" in lines
    assert "<details><summary>n/a (does not apply)</summary>" in lines
    verdict = "every applicable check passes — the shim fixes S5"
    assert f"- myserver 1.2 with the shim (mode fix): {verdict}" in lines
    assert render_markdown([]) == "no results\n"


def test_a_failed_check_is_annotated_with_the_arm_that_failed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"):
        monkeypatch.setenv(name, str(tmp_path / name))
    failed = [{"id": "S1", "status": "fail", "detail": "no state"}]
    records = [_record("off", failed), _record("middleware", failed)]
    script()._report({"results": [r.as_dict() for r in records]}, 1, tmp_path / "report.json")
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "myserver 1.2 with the middleware only: no state" in errors[0], errors
