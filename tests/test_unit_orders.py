"""Every activation order of every shim, each in a fresh interpreter, against stub servers.

Generated from ``SUPPORTED``: for each shim, every permutation of import / activate / deactivate,
the repeats (activate twice, deactivate twice, activate again after deactivate) and automatic
activation before and after the import. Each order must end with exactly one of our wrappers on
every hook point of the stub (none after a final deactivate), ``status()`` and ``is_patched()``
saying the same, and a run of the stub handing its HTTP scopes a state exactly when active.
Then one run per mode range of the table: the mode the shim picks and what it wraps.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import List, Tuple

import pytest

from lifespan_state._versions import SUPPORTED
from unit_support import STUBBED, STUBS, run_steps, stub_hooks, stub_package

pytestmark = pytest.mark.unit

SHIMS = STUBBED


def _orders() -> List[Tuple[str, ...]]:
    orders = list(itertools.permutations(("import", "activate", "deactivate")))
    orders += list(itertools.permutations(("import", "activate")))
    orders += [
        ("import", "activate", "activate"),
        ("import", "deactivate", "deactivate"),
        ("activate", "deactivate", "activate", "import"),
        ("import", "activate", "deactivate", "activate"),
        ("auto", "import"),
        ("import", "auto"),
        ("auto", "deactivate", "import"),
        ("import", "all", "activate"),
    ]
    return orders


ORDERS = _orders()

#: Shims that landed before their stub: their orders are not generated yet. Remove a name when its
#: stub is added under tests/stubs/; any other SUPPORTED row without a stub fails the check.
KNOWN_WITHOUT_STUB = {"gunicorn", "anycorn", "granian", "asgi-lifespan", "starlette"}


def _active_after(order: Tuple[str, ...]) -> bool:
    active = False
    for step in order:
        if step in ("activate", "auto", "all", "lenient"):
            active = True
        elif step == "deactivate":
            active = False
    return active


def test_every_supported_shim_has_a_stub() -> None:
    missing = [name for name in SUPPORTED if not (stub_package(name) / "__init__.py").exists()]
    if missing and set(missing) <= KNOWN_WITHOUT_STUB:
        pytest.xfail(f"no stub server yet for {', '.join(missing)} (tests/stubs/README.md)")
    assert not missing, (
        f"no stub server for {', '.join(missing)} under {STUBS.name}/: add one with exactly the hook "
        "points its shim touches (tests/stubs/README.md)"
    )


def test_the_orders_cover_every_permutation() -> None:
    steps = ("import", "activate", "deactivate")
    assert set(itertools.permutations(steps)) <= set(ORDERS)
    assert len(set(ORDERS)) == len(ORDERS)


@pytest.mark.parametrize("server", SHIMS)
@pytest.mark.parametrize("order", ORDERS, ids=",".join)
def test_order(server: str, order: Tuple[str, ...], tmp_path: Path) -> None:
    hooks = stub_hooks(server)
    result = run_steps(server, order, tmp_path)
    status = result["status"]
    assert result["errors"] == [], result["errors"]
    if _active_after(order):
        assert result["depths"] == {hook: 1 for hook in hooks}, "double wrapped or not wrapped"
        assert sorted(status["patched"]) == sorted(hooks)
        assert status["mode"] == "add" and status["requested"]
        assert result["shim_is_patched"] is True
        assert result["served_state"] in (True, None)
    else:
        # Negative control: the stub on its own gives no state; nothing of ours is left on it.
        assert result["depths"] == {hook: 0 for hook in hooks}
        assert status["patched"] == [] and not status["requested"]
        assert result["shim_is_patched"] in (False, None)
        assert result["served_state"] in (False, None)
    assert result["warnings"] == []


def _ranges() -> List[Tuple[str, str, str]]:
    return [(server, entry.low, entry.mode) for server in SHIMS for entry in SUPPORTED[server].ranges]


@pytest.mark.parametrize(("server", "version", "mode"), _ranges(), ids=lambda v: str(v))
def test_mode_of_each_range(server: str, version: str, mode: str, tmp_path: Path) -> None:
    """The first release of each range, its code with state exactly where the table says so."""
    result = run_steps(server, ("import", "activate"), tmp_path, version=version, state=mode != "add")
    status = result["status"]
    assert result["errors"] == [] and status["mode"] == mode, result
    assert result["shim_is_patched"] is True
    wrapped = 0 if mode == "native" else 1
    assert set(result["depths"].values()) == {wrapped}
    assert bool(status["patched"]) == (mode != "native")


@pytest.mark.parametrize("server", SHIMS)
@pytest.mark.parametrize("state", [False, True], ids=["no-state", "state"])
def test_newer_than_tested_is_probed(server: str, state: bool, tmp_path: Path) -> None:
    result = run_steps(server, ("import", "activate"), tmp_path, version="999.0", state=state)
    expected = SUPPORTED[server].ranges[-1].mode if state else "add"
    assert result["status"]["mode"] == expected
    assert "newer than tested" in result["status"]["reason"]
