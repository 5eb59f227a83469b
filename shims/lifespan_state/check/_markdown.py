"""The check report as GitHub-flavoured Markdown: the table of ``lifespan-state check`` for a CI job's
summary page (the action at the repository's root writes it), made from the ``--json`` records.

The same content as the text table (``_cli.render_table``): a row per check, a column per
configuration, what failed and why, the ``n/a`` reasons (folded) and the verdicts. Every piece of
text a server or a check wrote is escaped: a detail such as ``<class 'KeyError'>`` must show, not
vanish into the page as an HTML tag.
"""


from __future__ import annotations

import html
import re
import string
from typing import List, Sequence

from ._cli import _column, _grouped, _summary
from ._records import FAIL, PASS, SKIP, ResultRecord
from ._spec import CHECKS

__all__ = ["render_markdown"]

_CELL = {PASS: "pass", FAIL: "**FAIL**", SKIP: "n/a"}


def _text(text: str) -> str:
    """Plain text for a table cell or a list item: HTML escaped, on one line, no cell breaks."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def _code(text: str) -> str:
    """A code span that holds any text (a fence longer than any run of backticks in it); for the
    list under the table (a cell would need its pipes escaped)."""
    text = " ".join(text.split())
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(records: Sequence[ResultRecord]) -> str:
    """Rows = checks, columns = configurations (letters, explained under the table)."""
    if not records:
        return "no results\n"
    ids = [c for c in CHECKS if any(r.check(c) for r in records)]
    letters = (string.ascii_uppercase * 2)[: len(records)]
    lines = ["| check | " + " | ".join(letters) + " |", "|---|" + "---|" * len(records)]
    for check_id in ids:
        results = [record.check(check_id) for record in records]
        cells = " | ".join(_CELL[r.status] if r else "-" for r in results)
        lines.append(f"| {check_id} {_text(CHECKS[check_id])} | {cells} |")
    lines.append("")
    for letter, record in zip(letters, records):
        config = ", ".join(f"{_text(k)}={_code(v)}" for k, v in record.config.items())
        lines.append(f"- **{letter}** = {_text(_column(record))}" + (f"; {config}" if config else ""))
    failed = _grouped(records, letters, FAIL)
    if failed:
        lines += ["", "**What failed:**", ""] + [f"- {_text(entry)}" for entry in failed]
    skipped = _grouped(records, letters, SKIP)
    if skipped:
        lines += ["", "<details><summary>n/a (does not apply)</summary>", ""]
        lines += [f"- {_text(entry)}" for entry in skipped] + ["", "</details>"]
    summary: List[str] = _summary(records)
    if summary:
        lines += [""] + [f"- {_text(line)}" for line in summary]
    return "\n".join(lines) + "\n"
