"""What status() and `lifespan-state status` say: wrapped now, wrapped on which import, and
LIFESPAN_STATE_DISABLE (issue: status that misleads). Real releases in their own environments."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional

import pytest
from tools.envs import EnvSpec, ensure_env
from tools.releases import SERVERS

from lifespan_state._versions import SUPPORTED


@pytest.fixture(scope="module")
def hypercorn_0160() -> Path:
    return ensure_env(EnvSpec("hypercorn", SERVERS["hypercorn"].last_stateless))


def _env(disable: Optional[str]) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFESPAN_STATE")}
    if disable is not None:
        env["LIFESPAN_STATE_DISABLE"] = disable
    return env


def python(venv: Path, code: str, disable: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60,
        env=_env(disable),
    )  # fmt: skip


def cli(venv: Path, *args: str, disable: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "lifespan-state"), "status", *args], capture_output=True, text=True,
        timeout=60, env=_env(disable),
    )  # fmt: skip


def test_cli_says_what_hypercorn_wraps_on_which_import(hypercorn_0160: Path) -> None:
    done = cli(hypercorn_0160)
    assert done.returncode == 0, done.stderr
    assert "nothing wrapped\n" not in done.stdout and not done.stdout.rstrip().endswith("nothing wrapped")
    width = max(len(name) for name in SUPPORTED)  # the name column fits the longest name
    release = SERVERS["hypercorn"].last_stateless
    line = f"{'hypercorn':<{width}} {release:<10} mode=add     nothing wrapped yet"
    assert line in done.stdout, done.stdout
    assert "on `import hypercorn.asyncio`: worker_serve" in done.stdout
    assert "on `import hypercorn.trio`: worker_serve" in done.stdout
    data: Dict[str, Any] = json.loads(cli(hypercorn_0160, "--json").stdout)
    assert set(data) >= {"uvicorn", "hypercorn"}  # keyed by distribution name
    assert data["hypercorn"]["patched"] == [] and "hypercorn.asyncio" in data["hypercorn"]["pending"]


def test_status_moves_a_wrap_from_pending_to_patched_on_its_import(hypercorn_0160: Path) -> None:
    done = python(
        hypercorn_0160,
        "import json, lifespan_state\n"
        "lifespan_state.activate('hypercorn')\n"
        "import hypercorn\n"
        "before = lifespan_state.status()['hypercorn'].as_dict()\n"
        "import hypercorn.asyncio\n"
        "after = lifespan_state.status()['hypercorn'].as_dict()\n"
        "lifespan_state.deactivate()\n"
        "off = lifespan_state.status()['hypercorn'].as_dict()\n"
        "print(json.dumps([before, after, off]))",
    )
    assert done.returncode == 0, done.stderr
    before, after, off = json.loads(done.stdout)
    assert before["patched"] == [] and "hypercorn.asyncio" in before["pending"]
    assert "hypercorn.asyncio.run.worker_serve" in after["patched"]
    assert "hypercorn.asyncio" not in after["pending"] and "hypercorn.trio" in after["pending"]
    # Negative control: after deactivate() nothing is wrapped and nothing is promised.
    assert off["patched"] == [] and off["pending"] == {} and not off["requested"]


def test_disable_is_reported_by_status_cli_and_activate(uvicorn_0176: Path) -> None:
    done = cli(uvicorn_0176, disable="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("LIFESPAN_STATE_DISABLE=1 is set: activation is off"), done.stdout
    assert "not activated: LIFESPAN_STATE_DISABLE=1 is set" in done.stdout
    explicit = python(
        uvicorn_0176,
        "import lifespan_state, uvicorn\n"
        "lifespan_state.activate('uvicorn'); lifespan_state.activate()\n"
        "info = lifespan_state.status()['uvicorn']\n"
        "print(info.disabled, list(info.patched), info.reason)",
        disable="TRUE",
    )
    assert explicit.returncode == 0, explicit.stderr
    assert explicit.stdout.strip() == "True [] not activated: LIFESPAN_STATE_DISABLE=TRUE is set"
    # One line, however often activate() is called.
    lines = explicit.stderr.strip().splitlines()
    assert len(lines) == 1 and "not activated (activate()): LIFESPAN_STATE_DISABLE=TRUE" in lines[0], lines


@pytest.mark.parametrize("value", ["0", "off-please"])
def test_other_disable_values_are_ignored_with_one_warning(uvicorn_0176: Path, value: str) -> None:
    done = python(
        uvicorn_0176,
        "import lifespan_state.auto, lifespan_state, uvicorn\nlifespan_state.activate()\n"
        "print(bool(lifespan_state.status()['uvicorn'].patched))",
        disable=value,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"LIFESPAN_STATE_DISABLE={value!r} is not one of 1, true, yes, on" in lines[0]
