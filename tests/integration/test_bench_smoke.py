"""The benchmark command runs end to end and its validity checks can fail (not a timed test).

``python -m tools.bench`` with every section cut to a minimum: one end-to-end row, one round,
a few thousand requests of memory sampling. What is asserted is that each section produced
numbers, that the "shim on" arm really saw the lifespan state, that the memory measurement sees
the leak of its negative control, that a server without the state fails the app's check, and
that measuring one section again keeps the others' stored results.

The offline checks of the committed report and chart are tests/unit/test_bench_report.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from script_support import ROOT


def _load_generators() -> bool:
    # Installed by .ci/run (Debian packages wrk and nghttp2-client); a test never installs them.
    return shutil.which("wrk") is not None and shutil.which("h2load") is not None


@pytest.mark.skipif(
    not _load_generators(),
    reason="wrk/h2load not installed (apt-get install wrk nghttp2-client; .ci/run does it as root)",
)
def test_bench_command_smoke(tmp_path: Path) -> None:
    out, raw = tmp_path / "BENCHMARKS.md", tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "tools.bench", "--quick",
        "--only", "uvicorn-0.20.0-httptools-4", "--rounds", "1", "--seconds", "1",
        "--memory-requests", "3000", "--activation-runs", "1",
        "--out", str(out), "--json", str(raw),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(raw.read_text())

    (row,) = results["e2e"]
    assert row["error"] is None, row["error"]  # the "on" arm answered 200: it saw the lifespan keys
    assert row["requests"] > 0 and row["base_rps"] > 0 and row["cand_rps"] > 0
    for run in results["micro"]["runs"]:
        for size in run["sizes"].values():
            assert size["copy_ns"] > 0 and size["shim_ns"] > size["call_ns"] > 0
    for act in results["activation"]:
        assert act["eager_after_auto"] == [] and act["importtime"]["server_modules"] == []
        assert act["in_server_mode"] == "add" and act["in_server_patched"]
    flat, baseline, leak = results["memory"]
    assert flat["error"] is None and flat["requests"] >= 3000
    assert baseline["baseline"] and not baseline["case"]["shim"] and baseline["error"] is None
    assert leak["case"]["leak"] and leak["flat"] is False  # negative control: a leak is seen

    text = out.read_text()
    for heading in ("## Targets", "## End to end", "## Per scope", "## Activation", "## Memory"):
        assert heading in text
    assert "uvicorn 0.20.0 httptools, 4 keys" in text
    chart = ET.parse(tmp_path / "docs" / "bench.svg").getroot()
    assert chart.tag.endswith("svg") and any(el.tag.endswith("rect") for el in chart.iter())

    # One section again: only its stored results change, the report keeps every section.
    stored = _results_file(tmp_path)
    before = json.loads(stored.read_text())["sections"]
    again = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--quick", "--sections", "activation",
         "--activation-runs", "1", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    after = json.loads(stored.read_text())["sections"]
    assert sorted(after) == sorted(before) == ["activation", "e2e", "memory", "micro"]
    for kept in ("e2e", "memory", "micro"):
        assert after[kept] == before[kept]
    assert "--sections activation" in after["activation"]["run"]["command"]
    assert "--sections activation" not in after["e2e"]["run"]["command"]
    text = out.read_text()
    for heading in ("## End to end", "## Per scope", "## Activation", "## Memory"):
        assert heading in text


def _results_file(base: Path) -> Path:
    return base / "tools" / "bench" / "results.json"


def test_state_check_fails_without_the_shim() -> None:
    # Negative control of the end-to-end validity check: uvicorn 0.20.0 without the shim has no
    # scope["state"], so an app that expects the lifespan's keys answers 500 to every request.
    from tools.bench._system import Server, bench_env, free_port
    from tools.bench.e2e import Arm, arm_env, server_command

    arm = Arm("uvicorn", "0.20.0", shim=False)
    env = dict(arm_env(arm, 4), BENCH_EXPECT_STATE="1")
    port = free_port()
    server = Server(server_command(arm, "h11", port, pin=False), bench_env(env), port, arm.label)
    try:
        with pytest.raises(RuntimeError, match="answered 500"):
            server.start()
    finally:
        server.close()
