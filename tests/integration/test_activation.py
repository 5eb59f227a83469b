"""Activation orders, each in its own interpreter, against a real in-process uvicorn server.

Every order must end with exactly one of our wrappers (or none after a final deactivate) and
with what two requests on one keep-alive connection saw matching that.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest
from tools.envs import EnvSpec, ensure_env
from tools.releases import SERVERS

from script_support import SCRIPTS, run_json

SCRIPT = SCRIPTS / "activation_order.py"


@pytest.fixture(scope="module")
def uvicorn_debian() -> Path:
    return ensure_env(EnvSpec("uvicorn", SERVERS["uvicorn"].debian))


@pytest.fixture(scope="module")
def uvicorn_newest() -> Path:
    return ensure_env(EnvSpec("uvicorn", SERVERS["uvicorn"].newest))


def run_order(venv: Path, order: str, **env: str) -> Dict[str, Any]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFESPAN_STATE")}
    environ.update(env)
    return run_json([str(venv / "bin" / "python"), str(SCRIPT), order], env=environ, timeout=60)[0]


def assert_state_per_request(result: Dict[str, Any]) -> None:
    # The first request wrote a key into its state; the second on the same connection must not see it.
    assert result["seen"] == [
        {"has_state": True, "keys": ["pool"], "pool_is_lifespan_object": True},
        {"has_state": True, "keys": ["pool"], "pool_is_lifespan_object": True},
    ]


@pytest.mark.parametrize(
    "order",
    ["import,activate", "activate,import", "activate,activate", "activate,deactivate,activate", "auto"],
)
def test_active_orders_wrap_once(uvicorn_debian: Path, order: str) -> None:
    result = run_order(uvicorn_debian, order)
    assert result["depth"] == 1, "double wrapped" if result["depth"] > 1 else "not wrapped"
    assert result["status"]["mode"] == "add"
    assert result["status"]["patched"] == [
        "uvicorn.lifespan.on.LifespanOn.__init__",
        "uvicorn.lifespan.off.LifespanOff.__init__",
    ]
    assert_state_per_request(result)


@pytest.mark.parametrize(
    "order", ["activate,deactivate", "deactivate,deactivate", "import,activate,deactivate"]
)
def test_inactive_orders_restore_the_original(uvicorn_debian: Path, order: str) -> None:
    result = run_order(uvicorn_debian, order)
    assert result["depth"] == 0 and result["init_is_plain_function"]
    assert result["status"]["patched"] == [] and not result["status"]["requested"]
    # Negative control: Debian's uvicorn (0.17.6) on its own has no lifespan state.
    assert [seen["has_state"] for seen in result["seen"]] == [False, False]


def test_disable_env_switches_activation_off(uvicorn_debian: Path) -> None:
    result = run_order(uvicorn_debian, "auto,activate", LIFESPAN_STATE_DISABLE="1")
    assert result["depth"] == 0
    assert [seen["has_state"] for seen in result["seen"]] == [False, False]


@pytest.mark.parametrize("order", ["activate", "import,activate", "activate,activate"])
def test_native_release_gets_no_wrapper(uvicorn_newest: Path, order: str) -> None:
    result = run_order(uvicorn_newest, order)
    assert result["depth"] == 0 and result["init_is_plain_function"]
    assert result["status"]["mode"] == "native" and result["status"]["patched"] == []
    assert_state_per_request(result)


def run_python(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFESPAN_STATE")}
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60, env=environ
    )


def test_explicit_activation_of_a_server_not_installed_raises(uvicorn_debian: Path) -> None:
    out = run_python(
        uvicorn_debian,
        "import lifespan_state\n"
        "try:\n    lifespan_state.activate('hypercorn')\n"
        "except lifespan_state.ServerNotInstalledError as e:\n    print('ERR', e)\n",
    )
    assert "ERR hypercorn is not installed" in out.stdout and "pip install hypercorn" in out.stdout


def test_unknown_server_name_is_a_clear_error(uvicorn_debian: Path) -> None:
    out = run_python(uvicorn_debian, "import lifespan_state\nlifespan_state.activate('nginx')")
    assert out.returncode != 0
    assert "unknown server 'nginx'" in out.stderr and "uvicorn, hypercorn" in out.stderr


def test_importing_the_package_or_auto_imports_no_server(uvicorn_debian: Path) -> None:
    out = run_python(
        uvicorn_debian,
        "import sys, lifespan_state, lifespan_state.auto\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('uvicorn', 'hypercorn')))",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_activation_waits_for_the_server_without_importing_wrapt(uvicorn_0176: Path) -> None:
    # Cheap activation: nothing heavy until a server is imported; the server import then patches.
    heavy = "('wrapt', 'packaging', 'importlib.metadata', 'asyncio', 'logging', 'typing')"
    out = run_python(
        uvicorn_0176,
        "import sys, json, lifespan_state.auto\n"
        f"before = sorted(m for m in {heavy} if m in sys.modules)\n"
        "import uvicorn, lifespan_state\n"
        "print(json.dumps([before, 'wrapt' in sys.modules, lifespan_state.status()['uvicorn'].patched]))",
    )
    assert out.returncode == 0, out.stderr
    before, wrapt_after, patched = json.loads(out.stdout)
    assert before == [] and wrapt_after
    assert patched == ["uvicorn.lifespan.on.LifespanOn.__init__", "uvicorn.lifespan.off.LifespanOff.__init__"]
