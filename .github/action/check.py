"""The check step of the GitHub Action at the repository's root (``action.yml``), which runs the
same way on any machine:

    python .github/action/check.py --command '{python} -m myserver {app} --host {host} --port {port}'

It runs ``lifespan-state check --json`` under this interpreter (the environment that holds the kit
and the server: ``{python}`` in the command is this interpreter) with the action's inputs, keeps
the JSON document (``--out``) and prints the table. Where GitHub Actions names them, it appends the
report as Markdown to ``$GITHUB_STEP_SUMMARY``, ``report`` (the document's path) and ``passed`` to
``$GITHUB_OUTPUT``, and one error annotation per failed check. The exit status is the kit's: 0 when
every check passed (with ``--shim both``: every check with the shim), 1 when one failed, 2 when the
kit could not run (bad input; then there is no document).

The action passes every input, set or not: an empty value is the same as leaving the option out.
"""

from __future__ import annotations

import argparse
import collections
import html
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

try:
    from lifespan_state import __version__
    from lifespan_state.check._cli import render_table
    from lifespan_state.check._markdown import render_markdown
    from lifespan_state.check._records import FAIL, ResultRecord, judged
except ImportError:  # the action installs the kit first; by hand, this is the usual slip
    print(f"check.py: the kit (lifespan-state-shim) is not installed for {sys.executable}: pip "
          "install the repository's checkout with its [check] extra into this environment", file=sys.stderr)
    sys.exit(2)

_TITLE = "lifespan-state check"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="check.py",
        description="Run lifespan-state check --json with the GitHub Action's inputs; write the "
        "JSON report, the job summary and the step outputs.",
    )
    parser.add_argument("--command", default="", help="the server command template (required)")
    parser.add_argument("--name", default="", help="the server's distribution name")
    parser.add_argument("--transports", default="",
                        help="transports the server speaks, separated by spaces or commas")
    parser.add_argument("--tls", default="false", help="true: also check over TLS")
    parser.add_argument("--checks", default="", help="comma-separated check ids (default: all)")
    parser.add_argument("--shim", default="off", help="off (default), on, both, middleware or all")
    parser.add_argument("--timeout", default="", help="seconds for each network wait")
    parser.add_argument("--args", default="", help="more arguments for lifespan-state check (shell words)")
    parser.add_argument("--out", default="lifespan-state-check.json", help="where to write the JSON report")
    return parser


class UsageError(Exception):
    pass


def kit_arguments(options: argparse.Namespace) -> List[str]:
    """The ``lifespan-state check`` arguments for the inputs (the kit itself judges their values)."""
    if not options.command.strip():
        raise UsageError("--command is required: the server's command template, e.g. "
                         "'{python} -m myserver {app} --host {host} --port {port}'")
    args = ["--json", "--command", options.command, "--shim", options.shim or "off"]
    if options.name:
        args += ["--name", options.name]
    for transport in options.transports.replace(",", " ").split():
        args += ["--transport", transport]
    tls = options.tls.strip().lower()
    if tls not in {"", "true", "false"}:
        raise UsageError(f"--tls wants true or false, got {options.tls!r}")
    if tls == "true":
        args.append("--tls")
    if options.checks:
        args += ["--checks", options.checks]
    if options.timeout:
        args += ["--timeout", options.timeout]
    try:
        args += shlex.split(options.args)
    except ValueError as exc:
        raise UsageError(f"--args: {exc}") from None
    return args


def _run_kit(args: Sequence[str], out: Path) -> Tuple[int, List[str]]:
    """Run the kit with its JSON document going to ``out``; its progress and errors still reach
    our stderr as they come (a CI log shows a slow server live), the last lines are kept for the
    summary of a run that produced no document."""
    tail: Deque[str] = collections.deque(maxlen=20)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as document:
        proc = subprocess.Popen([sys.executable, "-m", "lifespan_state", "check", *args],
                                stdout=document, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))
        code = proc.wait()
    return code, list(tail)


def _load(out: Path) -> Optional[Dict[str, Any]]:
    try:
        document = json.loads(out.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("results"), list) else None


def _append(variable: str, text: str) -> None:
    """Append to the file GitHub Actions names in ``variable`` (nothing when it names none)."""
    path = os.environ.get(variable)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def _annotation(text: str) -> str:
    # A workflow command's message is one line: GitHub's own escapes for %, CR and LF.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


#: How an annotation names the arm of a failed check (``--shim`` of the record).
_HOW = {"off": "natively", "on": "with the shim", "middleware": "with the middleware only"}


def _report(document: Dict[str, Any], code: int, out: Path) -> None:
    records = [ResultRecord.from_dict(r) for r in document["results"]]
    print(render_table(records))
    verdict = "passed" if code == 0 else f"failed (exit {code})"
    _append("GITHUB_STEP_SUMMARY", "\n".join([
        f"### {_TITLE}: {verdict}", "",
        html.escape(f"Python {document.get('python')} on {document.get('platform')}, "
                    f"lifespan-state-shim {__version__}; the JSON report: {out.name}", quote=False),
        "", render_markdown(records), "",
    ]))
    _append("GITHUB_OUTPUT", f"report={out.resolve()}\npassed={'true' if code == 0 else 'false'}\n")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for record in judged(records):
            for result in record.checks:
                if result.status == FAIL:
                    how = _HOW.get(record.shim, record.shim)
                    message = f"{record.server} {record.server_version} {how}: {result.detail}"
                    print(f"::error title={_TITLE} {result.id}::{_annotation(message)}")


def _no_report(code: int, tail: List[str]) -> None:
    lines = "\n".join(tail) or "(no output)"
    _append("GITHUB_STEP_SUMMARY", f"### {_TITLE}: could not run (exit {code})\n\n"
                                   f"<pre>{html.escape(lines, quote=False)}</pre>\n")
    _append("GITHUB_OUTPUT", "report=\npassed=false\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    options = _parser().parse_args(argv)
    try:
        args = kit_arguments(options)
    except UsageError as exc:
        print(f"check.py: {exc}", file=sys.stderr)
        _no_report(2, [str(exc)])
        return 2
    out = Path(options.out)
    code, tail = _run_kit(args, out)
    document = _load(out)
    if document is None:
        out.unlink(missing_ok=True)
        _no_report(code or 2, tail)
        return code or 2
    _report(document, code, out)
    return code


if __name__ == "__main__":
    sys.exit(main())
