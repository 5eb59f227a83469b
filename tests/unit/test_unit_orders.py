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
from typing import Iterator, List, Tuple

import pytest

from lifespan_state._versions import SUPPORTED
from unit_support import STUBBED, STUBS, Run, Runs, first_mode, stub_hooks, stub_package

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

#: Shims that refuse a release without lifespan state instead of adding it (granian: the state
#: lives in its Rust request path, beyond a Python wrap).
CANNOT_ADD = {"granian"}


def _ranges() -> List[Tuple[str, str, str]]:
    return [(server, entry.low, entry.mode) for server in SHIMS for entry in SUPPORTED[server].ranges]


def _order_run(server: str, order: Tuple[str, ...]) -> Run:
    return (server, order, None, None)


def _range_run(server: str, version: str, mode: str) -> Run:
    """The first release of a range, its code with state exactly where the table says so."""
    return (server, ("import", "activate"), version, mode != "add")


def _newer_run(server: str, state: bool) -> Run:
    return (server, ("import", "activate"), "999.0", state)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Every run this module's tests look at, started ahead (each one a fresh interpreter)."""
    every = [_order_run(server, order) for server in SHIMS for order in ORDERS]
    every += [_range_run(*each) for each in _ranges()]
    every += [_newer_run(server, state) for server in SHIMS for state in (False, True)]
    started = Runs(tmp_path_factory.mktemp("runs"), every)
    yield started
    started.close()


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
def test_order(server: str, order: Tuple[str, ...], runs: Runs) -> None:
    hooks = stub_hooks(server)
    result = runs.get(_order_run(server, order))
    status = result["status"]
    assert result["errors"] == [], result["errors"]
    if _active_after(order):
        assert result["depths"] == {hook: 1 for hook in hooks}, "double wrapped or not wrapped"
        assert sorted(status["patched"]) == sorted(hooks)
        assert status["mode"] == first_mode(server) and status["requested"]
        assert result["shim_is_patched"] is True
        assert result["served_state"] in (True, None)
    else:
        # Negative control: the stub on its own gives no state; nothing of ours is left on it.
        assert result["depths"] == {hook: 0 for hook in hooks}
        assert status["patched"] == [] and not status["requested"]
        assert result["shim_is_patched"] in (False, None)
        assert result["served_state"] in (False, None)
    assert result["warnings"] == []


@pytest.mark.parametrize(("server", "version", "mode"), _ranges(), ids=lambda v: str(v))
def test_mode_of_each_range(server: str, version: str, mode: str, runs: Runs) -> None:
    """The first release of each range, its code with state exactly where the table says so."""
    result = runs.get(_range_run(server, version, mode))
    status = result["status"]
    assert result["errors"] == [] and status["mode"] == mode, result
    assert result["shim_is_patched"] is True
    wrapped = 0 if mode == "native" else 1
    assert set(result["depths"].values()) == {wrapped}
    assert bool(status["patched"]) == (mode != "native")


@pytest.mark.parametrize("server", SHIMS)
@pytest.mark.parametrize("state", [False, True], ids=["no-state", "state"])
def test_newer_than_tested_is_probed(server: str, state: bool, runs: Runs) -> None:
    result = runs.get(_newer_run(server, state))
    if not state and server in CANNOT_ADD:
        assert [error[1] for error in result["errors"]] == ["UnsupportedServerError"], result
        assert "without lifespan state" in result["errors"][0][2]
        assert result["status"]["patched"] == [] and result["shim_is_patched"] is False
        return
    expected = SUPPORTED[server].ranges[-1].mode if state else "add"
    assert result["status"]["mode"] == expected
    assert "newer than tested" in result["status"]["reason"]
