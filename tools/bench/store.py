"""The stored results BENCHMARKS.md is rendered from (``tools/bench/results.json``, committed).

Each section (per scope, activation, end to end, memory) is stored with the run that measured it:
when, at which commit, by which command, on which machine, and the load average around it. A run
replaces the sections it measured and keeps the others as they were, so one section can be
measured again without measuring the rest — and the report says, per section, when and how its
numbers were taken. Rendering reads this file only (``python -m tools.bench --render``), so the
report can always be reproduced from what is committed.

Stored text is machine-neutral: the paths of this checkout, of the environment cache
(``tools.envs.VENVS``) and of the home directory are replaced by placeholders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from tools.envs import ROOT, VENVS

__all__ = ["SCHEMA", "SECTION_ORDER", "load", "neutral", "put", "save", "view"]

#: Bumped when a stored section's shape changes in a way the renderer cannot read.
SCHEMA = 1
SECTION_ORDER = ("micro", "activation", "e2e", "memory")


def _placeholders() -> List[Tuple[str, str]]:
    """Longest path first, so that the environment cache under the home directory is matched
    before the home directory itself."""
    pairs = [(str(VENVS), "$VENVS"), (str(ROOT), "."), (str(Path.home()), "~")]
    return sorted(((p, r) for p, r in pairs if p not in ("", "/")), key=lambda pr: -len(pr[0]))


def neutral(value: Any) -> Any:
    """``value`` with every machine path in its strings replaced by its placeholder."""
    if isinstance(value, str):
        for path, placeholder in _placeholders():
            value = value.replace(path, placeholder)
        return value
    if isinstance(value, dict):
        return {key: neutral(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [neutral(item) for item in value]
    return value


def load(path: Path) -> Dict[str, Any]:
    """The stored results, or none at all when the file does not exist yet."""
    if not path.exists():
        return {"schema": SCHEMA, "sections": {}}
    stored: Dict[str, Any] = json.loads(path.read_text())
    if stored.get("schema") != SCHEMA:
        raise SystemExit(
            f"{path}: results of schema {stored.get('schema')}, this renderer reads {SCHEMA}: "
            "measure every section again (python -m tools.bench)"
        )
    return stored


def put(stored: Dict[str, Any], section: str, run: Dict[str, Any], data: Any) -> None:
    """Store one section's results, with the run that measured them, in place of the old ones."""
    stored["sections"][section] = neutral({"run": run, "data": data})


def save(path: Path, stored: Dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = {
        "schema": SCHEMA,
        "sections": {name: stored["sections"][name] for name in SECTION_ORDER if name in stored["sections"]},
    }
    # Written whole and renamed: an interrupted write never leaves half a file to render.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(ordered, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


def view(stored: Dict[str, Any]) -> Dict[str, Any]:
    """What the renderer reads: each stored section's data under its name, its run under
    ``runs``, and the machine and pinning of the most recent run."""
    sections = stored["sections"]
    out: Dict[str, Any] = {"runs": {}}
    newest: Optional[Dict[str, Any]] = None
    for name in SECTION_ORDER:
        if name not in sections:
            continue
        run = sections[name]["run"]
        out[name] = sections[name]["data"]
        out["runs"][name] = run
        if newest is None or run["started"] > newest["started"]:
            newest = run
    out["machine"] = newest["machine"] if newest else {}
    return out
