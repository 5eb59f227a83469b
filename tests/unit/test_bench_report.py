"""The committed benchmark report and chart are what the committed results render to, and none of
them names a path of the machine that measured them (offline; the benchmark command itself runs
in tests/integration/test_bench_smoke.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from script_support import ROOT

RESULTS = ROOT / "tools" / "bench" / "results.json"


def _machine_paths() -> list[str]:
    from tools.envs import VENVS

    return [str(ROOT), str(VENVS), str(Path.home()), os.path.realpath(ROOT)]


def test_committed_report_is_what_the_stored_results_render_to(tmp_path: Path) -> None:
    # BENCHMARKS.md and docs/bench.svg come from the command only: rendering the committed
    # results gives them byte for byte (an edit by hand, or a renderer change without a new
    # render, fails here).
    from tools.bench.__main__ import render
    from tools.bench.store import load

    stored = load(RESULTS)
    assert stored["sections"], "tools/bench/results.json holds no results"
    render(stored, tmp_path / "BENCHMARKS.md", tmp_path / "docs" / "bench.svg")
    assert (tmp_path / "BENCHMARKS.md").read_text() == (ROOT / "BENCHMARKS.md").read_text()
    if "e2e" in stored["sections"]:
        assert (tmp_path / "docs" / "bench.svg").read_text() == (ROOT / "docs" / "bench.svg").read_text()


def test_generated_files_name_no_machine_path() -> None:
    for name in ("BENCHMARKS.md", "docs/bench.svg", "tools/bench/results.json"):
        text = (ROOT / name).read_text()
        for path in _machine_paths():
            assert path not in text, f"{name} names {path}"


def test_stored_results_are_machine_neutral() -> None:
    from tools.bench.store import neutral
    from tools.envs import VENVS

    record = {"commands": [f"{VENVS}/uvicorn-0.20.0/bin/python -m uvicorn"], "cwd": f"{ROOT}/tools/bench"}
    assert neutral(record) == {
        "commands": ["$VENVS/uvicorn-0.20.0/bin/python -m uvicorn"],
        "cwd": "./tools/bench",
    }
