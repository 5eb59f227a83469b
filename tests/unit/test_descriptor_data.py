"""Descriptors as data: the ``integration.toml`` files, the generated JSON every Python reads, and
how a table becomes the typed records (and says what is wrong when it cannot)."""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest

from lifespan_state._integrations import _data, _load
from lifespan_state._integrations._descriptor import Integration, Launch
from lifespan_state._integrations._matrix import DEBIAN, Config, Matrix
from lifespan_state._integrations._tools import Bench, BenchArm, BenchComparison

pytestmark = pytest.mark.unit

IN_TREE = [_load.load(reference) for reference in _load.in_tree()]
#: Every integration.toml, parsed once, by folder.
WRITTEN = _data.read_toml()


def test_the_generated_json_is_what_the_toml_files_say() -> None:
    # python -m lifespan_state._integrations._load rewrites it after an integration.toml changed.
    assert _data.JSON.read_text(encoding="utf-8") == _data.render_json(WRITTEN)


def test_every_integration_folder_has_a_descriptor_file() -> None:
    folders = sorted(reference.partition(":")[0].rpartition(".")[2] for reference in _load.in_tree())
    assert sorted(WRITTEN) == folders
    assert sorted(k for k in json.loads(_data.JSON.read_text(encoding="utf-8")) if k != "//") == folders


@pytest.mark.parametrize("integration", IN_TREE, ids=lambda i: i.name)
def test_a_descriptor_is_built_from_its_file_alone(integration: Integration) -> None:
    folder = integration.package.rpartition(".")[2]
    data = WRITTEN[folder]
    assert "package" not in data  # the loader fills it in
    assert _data.build(Integration, {**data, "package": integration.package}, folder) == integration


def test_the_records_types_come_through() -> None:
    # Arrays become tuples or frozensets, a Config its named tuple, nested tables records.
    launch = _data.build(Launch, {"command": "c", "transports": ["ws", "h1"],
                                  "option_transports": {"http": {"x": [["h2c"], ["h2-tls"]]}}}, "t")
    assert launch.transports == frozenset({"h1", "ws"})
    assert launch.option_transports == {"http": {"x": (frozenset({"h2c"}), frozenset({"h2-tls"}))}}
    matrix = _data.build(Matrix, {"default": ["h11", "websockets", "asyncio"],
                                  "configs": [[["httptools", "wsproto", "asyncio"], ">=0.35"]]}, "t")
    assert matrix.default == Config("h11", "websockets", "asyncio") and isinstance(matrix.default, Config)
    assert matrix.configs == ((Config("httptools", "wsproto", "asyncio"), ">=0.35"),)
    bench = _data.build(Bench, {"command": "c", "comparisons": [
        {"kind": "cross", "protocol": "h1", "keys": 4, "mode": "add",
         "base": {"release": "a", "shim": False}, "cand": {"release": "b", "shim": True}}]}, "t")
    cross = BenchComparison("cross", "h1", 4, BenchArm("a", False), BenchArm("b", True), "add")
    assert bench.comparisons == (cross,)
    assert bench.control is None and bench.startup is None  # left out: the default


def _minimal(**more: Any) -> Dict[str, Any]:
    return {"name": "toy", "kind": "server", "imports": ["toy"], **more}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_minimal(rnages=[]), "toy.toml: Integration has no field 'rnages' (it has name, kind,"),
        ({"name": "toy", "imports": ["toy"]}, "toy.toml: Integration needs kind"),
        (_minimal(kind="srever"), "toy.toml.kind: 'srever' is not one of 'server', 'harness'"),
        (_minimal(ranges=[["1.0", "fix"]]),
         "toy.toml.ranges[0]: an array of 3 is wanted, not ['1.0', 'fix']"),
        (_minimal(ranges=[["1.0", "fixed", "why"]]), "toy.toml.ranges[0][1]: 'fixed' is not one of 'add'"),
        (_minimal(rank="10"), "toy.toml.rank: an integer is wanted, not '10'"),
        (_minimal(imports="toy"), "toy.toml.imports: an array is wanted, not 'toy'"),
        (_minimal(launch={"comand": "x"}), "toy.toml.launch: Launch has no field 'comand'"),
        (_minimal(launch={"command": "x", "options": {"http": "--http"}}),
         "toy.toml.launch.options.http: a table is wanted, not '--http'"),
    ],
)
def test_a_wrong_descriptor_names_its_file_and_key(data: Dict[str, Any], message: str) -> None:
    with pytest.raises(_data.DescriptorError) as caught:
        _data.build(Integration, data, "toy.toml")
    assert str(caught.value).startswith(message), caught.value


def test_a_bool_is_not_an_int_and_an_int_is_not_a_bool() -> None:
    with pytest.raises(_data.DescriptorError, match="rank: an integer is wanted, not True"):
        _data.build(Integration, _minimal(rank=True), "toy.toml")
    with pytest.raises(_data.DescriptorError, match="quick: a boolean is wanted, not 1"):
        _data.build(Bench, {"command": "c", "rows": [
            {"release": "r", "protocol": "h1", "keys": 4, "mode": "add", "quick": 1}]}, "toy.toml")


def test_an_integration_missing_from_the_generated_json_says_what_to_run() -> None:
    with pytest.raises(_data.DescriptorError, match=r"nowhere/integration.toml: not in _descriptors.json; "
                                                    r"run python -m lifespan_state._integrations._load"):
        _data.descriptor("lifespan_state._integrations.nowhere")


# What a Python descriptor once wrote as a name (the newest release, Debian's) a file writes as a
# value: these keep the values that must move together together.
SERVERS_WITH_MATRIX = [i for i in IN_TREE if i.matrix is not None]


@pytest.mark.parametrize("integration", SERVERS_WITH_MATRIX, ids=lambda i: i.name)
def test_the_sweeps_end_at_the_newest_tested_release(integration: Integration) -> None:
    matrix = integration.matrix
    assert matrix is not None
    assert matrix.python_sweep[-1] == integration.newest_tested, matrix.python_sweep
    assert matrix.config_sweep[-1][0] == integration.newest_tested, matrix.config_sweep


@pytest.mark.parametrize("integration", SERVERS_WITH_MATRIX, ids=lambda i: i.name)
def test_debians_wrapt_runs_debians_release_on_debians_python(integration: Integration) -> None:
    matrix = integration.matrix
    assert matrix is not None
    for release, python, wrapt in matrix.wrapt_sweep:
        if wrapt == DEBIAN.wrapt:
            assert integration.releases is not None and release == integration.releases.debian
            assert python == DEBIAN.python


@pytest.mark.parametrize("integration", [i for i in IN_TREE if i.field_page], ids=lambda i: i.name)
def test_a_field_arm_pinning_the_integration_pins_its_newest_release(integration: Integration) -> None:
    assert integration.field_page is not None
    for arm in integration.field_page.arms:
        for requirement in arm.extra:
            name, _, version = requirement.partition("==")
            if name == integration.name:
                assert version == integration.newest_tested, (arm.key, requirement)
