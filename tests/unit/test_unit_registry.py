"""The registry's strict and lenient paths, in fresh interpreters against stub servers.

An explicit ``activate()`` raises a typed error (not installed, unsupported release, a hook point
that moved); automatic and lenient activation log once and leave the server as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest

import lifespan_state
from lifespan_state._versions import SUPPORTED
from unit_support import STUBBED, run_steps

SHIMS = STUBBED
TOO_OLD = "0.0.1"


def _error_types(result: Dict[str, Any]) -> List[str]:
    return [error[1] for error in result["errors"]]


def _untouched(result: Dict[str, Any]) -> None:
    assert set(result["depths"].values()) <= {0}, result["depths"]
    assert result["status"]["patched"] == []
    assert result["shim_is_patched"] in (False, None)


@pytest.mark.parametrize("server", SHIMS)
def test_strict_not_installed_raises(server: str, tmp_path: Path) -> None:
    result = run_steps(server, ("activate",), tmp_path, version="")
    assert _error_types(result) == ["ServerNotInstalledError"]
    assert f"pip install {server}" in result["errors"][0][2]


@pytest.mark.parametrize("server", SHIMS)
def test_lenient_not_installed_waits(server: str, tmp_path: Path) -> None:
    result = run_steps(server, ("lenient",), tmp_path, version="")
    assert result["errors"] == []
    status = result["status"]
    assert status["requested"] and not status["imported"]
    assert status["reason"] == f"waiting for `import {SUPPORTED[server].imports[0]}`"


@pytest.mark.parametrize("server", SHIMS)
def test_strict_unsupported_release_raises_and_leaves_it(server: str, tmp_path: Path) -> None:
    result = run_steps(server, ("import", "activate"), tmp_path, version=TOO_OLD)
    assert _error_types(result) == ["UnsupportedServerError"]
    assert TOO_OLD in result["errors"][0][2] and f">={SUPPORTED[server].minimum}" in result["errors"][0][2]
    _untouched(result)


@pytest.mark.parametrize("server", SHIMS)
@pytest.mark.parametrize("order", [("import", "lenient"), ("auto", "import"), ("lenient", "import")],
                         ids=",".join)
def test_lenient_unsupported_release_logs_once_and_leaves_it(
    server: str, order: Any, tmp_path: Path
) -> None:
    result = run_steps(server, order, tmp_path, version=TOO_OLD)
    assert result["errors"] == []
    warned = [line for line in result["log"] if line.startswith("WARNING") and TOO_OLD in line]
    assert len(warned) == 1, result["log"]
    _untouched(result)
    assert TOO_OLD in result["status"]["reason"]


@pytest.mark.parametrize("server", SHIMS)
def test_strict_patch_failure_raises_shim_error_and_leaves_it(server: str, tmp_path: Path) -> None:
    result = run_steps(server, ("import", "break", "activate"), tmp_path)
    assert _error_types(result) == ["ShimError"]
    assert "left unchanged" in result["errors"][0][2]
    _untouched(result)


@pytest.mark.parametrize("server", SHIMS)
def test_lenient_patch_failure_logs_and_leaves_it(server: str, tmp_path: Path) -> None:
    result = run_steps(server, ("import", "break", "lenient"), tmp_path)
    assert result["errors"] == []
    assert any(line.startswith("WARNING") and "left unchanged" in line for line in result["log"])
    _untouched(result)


@pytest.mark.parametrize("server", SHIMS)
def test_disable_env_switches_every_path_off(server: str, tmp_path: Path) -> None:
    result = run_steps(server, ("auto", "import", "activate"), tmp_path, LIFESPAN_STATE_DISABLE="1")
    assert result["errors"] == []
    _untouched(result)
    assert any("LIFESPAN_STATE_DISABLE" in line for line in result["log"])


def test_deactivate_when_not_active_says_so(tmp_path: Path) -> None:
    result = run_steps("uvicorn", ("import", "deactivate"), tmp_path)
    assert result["errors"] == []
    assert any("nothing to deactivate" in line for line in result["log"])


def test_unknown_server_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown server 'nginx'"):
        lifespan_state.activate("nginx")
