"""The matrix's plan for the rest of the field (gunicorn's ASGI worker, granian, anycorn), without
running servers: which releases, Pythons and configurations it picks, and the check-kit command
line of their cells. The runtime table's rows are used as they are when present; until a
server's row exists, the test installs one with the server's known facts (the plan only reads bounds and
modes from it).
"""

from __future__ import annotations

from typing import Iterator, List

import pytest
import tools.matrix as matrix
import tools.releases as releases_of
from packaging.version import Version
from tools.matrix import Cell, check_argv, ci_cells, plan, pythons_for, releases, servers

from lifespan_state._versions import SUPPORTED, ModeRange, ServerSupport

GUNICORN = ["23.0.0", "24.0.0", "24.1.0", "24.1.1", "25.0.0", "25.3.0", "26.0.0", "26.1.0", "26.2.0",
            "27.0.0", "27.0.1", "28.0.0"]  # fmt: skip
GRANIAN = ["0.7.6", "1.0.2", "1.1.2", "1.2.3", "1.7.6", "2.0.0", "2.0.1", "2.8.0", "2.8.9", "3.0.0"]
ANYCORN = ["0.16.0", "0.17.0", "0.17.1", "0.17.2", "0.17.3", "0.18.0", "0.18.7", "0.19.0", "0.19.3", "0.20.0",
           "0.20.1"]  # fmt: skip

_FIELD_ROWS = {
    "gunicorn": ServerSupport(
        "gunicorn",
        (ModeRange("24.0.0", "27.0.0", "fix", "shared dict"), ModeRange("27.0.0", None, "native", "copies")),
        "27.0.1", ("26.2.0",), integration="lifespan_state._integrations.gunicorn:INTEGRATION",
        imports=("gunicorn",),
    ),
    "granian": ServerSupport(
        "granian", (ModeRange("1.0.0", None, "fix", "state cleared before shutdown"),), "2.8.9", ("2.8.9",),
        integration="lifespan_state._integrations.granian:INTEGRATION", imports=("granian",),
    ),
    "anycorn": ServerSupport(
        "anycorn",
        (ModeRange("0.17.0", "0.17.3", "add", "no state"),
         ModeRange("0.17.3", "0.19.0", "fix", "per connection"),
         ModeRange("0.19.0", None, "fix", "startup snapshot")),
        "0.20.1", ("0.18.7",), integration="lifespan_state._integrations.anycorn:INTEGRATION",
        imports=("anycorn",),
    ),
}  # fmt: skip


@pytest.fixture(autouse=True)
def field_rows(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, row in _FIELD_ROWS.items():
        if name not in SUPPORTED:
            monkeypatch.setitem(SUPPORTED, name, row)
    yield


def _v(names: List[str]) -> List[Version]:
    return [Version(n) for n in names]


def _bounded(server: str, names: List[str]) -> List[str]:
    low, high = Version(SUPPORTED[server].minimum), Version(SUPPORTED[server].newest_tested)
    return [n for n in names if low <= Version(n) <= high]


def test_field_servers_are_planned_after_uvicorn_and_hypercorn() -> None:
    assert servers()[:2] == ["uvicorn", "hypercorn"]
    assert {"gunicorn", "granian", "anycorn"} <= set(servers())


def test_gunicorn_every_release_from_24() -> None:
    assert releases("gunicorn", _v(GUNICORN)) == _bounded("gunicorn", GUNICORN)
    got = releases("gunicorn", _v(GUNICORN))
    assert got[0] == "24.0.0" and {"26.2.0", "27.0.1"} <= set(got) and "28.0.0" not in got


def test_granian_oldest_and_newest_patch_of_every_minor() -> None:
    got = releases("granian", _v(GRANIAN))
    assert got[0] == "1.0.2" and "0.7.6" not in got  # before 1.0 is outside the supported range
    assert "2.0.0" not in got and {"2.0.1", "2.8.9"} <= set(got)  # newest patch per minor
    assert "2.8.0" not in got
    # every mode of the table is covered
    assert {m.mode for m in SUPPORTED["granian"].ranges} == {
        (matrix.mode_for("granian", Version(v)) or matrix._NONE).mode for v in got
    }


def test_anycorn_first_and_last_of_every_minor_and_each_mode_boundary() -> None:
    got = releases("anycorn", _v(ANYCORN))
    for version in ("0.17.0", "0.17.2", "0.17.3", "0.18.0", "0.18.7", "0.19.0", "0.19.3", "0.20.0", "0.20.1"):
        assert version in got, version
    assert "0.17.1" not in got and "0.16.0" not in got
    modes = {(matrix.mode_for("anycorn", Version(v)) or matrix._NONE).mode for v in got}
    assert modes == {m.mode for m in SUPPORTED["anycorn"].ranges}


@pytest.fixture()
def cells() -> List[Cell]:
    return plan(
        {
            "gunicorn": releases("gunicorn", _v(GUNICORN)),
            "granian": releases("granian", _v(GRANIAN)),
            "anycorn": releases("anycorn", _v(ANYCORN)),
        }
    )


def test_gunicorn_cells_only_on_pythons_it_supports(cells: List[Cell]) -> None:
    mine = [c for c in cells if c.server == "gunicorn"]
    assert {c.python for c in mine} == set(pythons_for("gunicorn")) == {"3.10", "3.11", "3.12", "3.13"}
    for version in ("24.0.0", "26.2.0", "27.0.1"):  # swept over every Python it supports
        assert {c.python for c in mine if c.server_version == version} == set(pythons_for("gunicorn"))
    assert {c.server_version for c in mine} == set(releases("gunicorn", _v(GUNICORN)))


def test_every_field_server_gets_a_tls_and_a_wrapt_1_cell(cells: List[Cell]) -> None:
    for server in ("gunicorn", "granian", "anycorn"):
        mine = [c for c in cells if c.server == server]
        assert any(c.http == "tls+h2" for c in mine), server
        assert any(c.wrapt == "1.x" for c in mine), server
        assert all(c.wrapt in ("1.x", "2.x") for c in mine)


def test_plan_with_releases_given_plans_only_those_servers(cells: List[Cell]) -> None:
    assert {c.server for c in cells} == {"gunicorn", "granian", "anycorn"}


def test_field_cells_use_the_kits_recipe() -> None:
    plain = Cell("gunicorn", "26.2.0", "3.12", "2.x", "h1", "ws", "asgi")
    tls = Cell("gunicorn", "26.2.0", "3.12", "2.x", "tls+h2", "ws", "asgi")
    assert check_argv(plain)[-2:] == ["--server", "gunicorn"]
    assert check_argv(tls)[-3:] == ["--server", "gunicorn", "--tls"]
    for argv in (check_argv(plain), check_argv(tls)):
        assert "--http" not in argv and "--worker" not in argv and "--json" in argv
    assert "h2" in plain.extras() and "trustme" in tls.extras() and "trustme" not in plain.extras()
    # uvicorn's cells keep their implementation options
    assert "--http" in check_argv(Cell("uvicorn", "0.20.0", "3.11", "2.x", "h11", "wsproto", "asyncio"))


def test_ci_subset_gets_one_cell_of_gunicorn_granian_and_anycorn() -> None:
    def record(server: str, version: str, python: str, native: str = "fail") -> dict:  # type: ignore[type-arg]
        http, ws, worker = matrix.facts(server).default
        return {"server": server, "server_version": version, "python": python, "wrapt": "2.x", "http": http,
                "ws": ws, "worker": worker, "native": native}  # fmt: skip

    records = [record("gunicorn", "26.2.0", p) for p in ("3.10", "3.13")]
    records += [record("granian", "2.8.9", "3.12"), record("granian", "2.8.9", "3.13", "cannot-run")]
    records += [record("anycorn", "0.18.7", "3.11")]
    chosen = ci_cells(records)
    # the newest Python where the release runs (granian 2.8.9's 3.13 row did not run here)
    assert [(c.server, c.server_version, c.python) for c in chosen] == [
        ("gunicorn", "26.2.0", "3.13"), ("granian", "2.8.9", "3.12"), ("anycorn", "0.18.7", "3.11"),
    ]  # fmt: skip


def test_granian_before_2_8_runs_on_uvloop(cells: List[Cell]) -> None:
    """granian 2.0 - 2.7 deadlock at stop on asyncio's loop (the descriptor's limit): their cells
    install uvloop; 1.x requires it itself and 2.8 does not need it, so theirs do not."""
    mine = [c for c in cells if c.server == "granian"]
    on_uvloop = {c.server_version for c in mine if "uvloop" in c.extras()}
    assert on_uvloop == {"2.0.1"}, on_uvloop  # the plan's only 2.x release before 2.8 here
    assert {"1.0.2", "1.7.6", "2.8.9"} <= {c.server_version for c in mine} - on_uvloop
    assert all(c.worker == "asgi" for c in mine)  # same cells (ids), another environment
    (loop_limit,) = releases_of.limits("granian")
    assert loop_limit in matrix.KNOWN_LIMITS
    assert loop_limit.text in matrix.render_markdown([])
