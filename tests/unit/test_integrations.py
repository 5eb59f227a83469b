"""The integration layout: every integration is one place, and the rest of the tree reads it.

Offline: descriptors and hook modules import no server (they import what they wrap when they
patch), so all of this runs without any server installed.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import lifespan_state
from lifespan_state import launcher
from lifespan_state._integrations import _index, _load
from lifespan_state._integrations._descriptor import Integration
from lifespan_state._versions import SUPPORTED

pytestmark = pytest.mark.unit

PACKAGE = Path(lifespan_state.__file__).resolve().parent
IN_TREE = sorted((_load.load(reference) for reference in _load.in_tree()), key=lambda i: (i.rank, i.name))
SUPPORTED_HERE = [i for i in IN_TREE if i.supported]


def test_the_generated_index_is_what_the_descriptors_say() -> None:
    # python -m lifespan_state._integrations._load rewrites it after a descriptor changed.
    assert (PACKAGE / "_integrations" / "_index.py").read_text() == _load.render_index()


def test_the_runtime_table_is_the_descriptors() -> None:
    assert [i.name for i in SUPPORTED_HERE] == list(SUPPORTED)[: len(SUPPORTED_HERE)]
    for integration in SUPPORTED_HERE:
        assert SUPPORTED[integration.name] == integration.support()


@pytest.mark.parametrize("integration", SUPPORTED_HERE, ids=lambda i: i.name)
def test_hook_code_belongs_to_its_descriptor(integration: Integration) -> None:
    shim = integration.resolve(integration.hooks)
    assert shim.integration is integration
    assert integration.hooks_module.startswith(f"{integration.package}.")
    # What status() says will be wrapped on a later import is what the hook code wraps then.
    assert set(shim.deferred()) == set(integration.later)
    assert integration.probes is not None
    assert callable(integration.resolve(integration.probes.has_state))
    if integration.probes.copies is not None:
        assert callable(integration.resolve(integration.probes.copies.probe))


@pytest.mark.parametrize("integration", IN_TREE, ids=lambda i: i.name)
def test_a_descriptor_imports_no_server(integration: Integration) -> None:
    # A fresh interpreter: load every descriptor and hook module, then look at sys.modules.
    code = (
        "import sys; from lifespan_state._integrations._load import load; "
        f"i = load({integration.package + ':INTEGRATION'!r}); "
        "i.supported and i.resolve(i.hooks); "
        f"print(sorted(m for m in sys.modules if m.partition('.')[0] == {integration.module!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_no_decide_overrides() -> None:
    # One decision pipeline: the descriptor's probes, never a subclass's own decide().
    from lifespan_state._shim import Shim

    for integration in SUPPORTED_HERE:
        shim = integration.resolve(integration.hooks)
        assert type(shim).decide is Shim.decide, integration.name
        assert type(shim).patch is Shim.patch, integration.name


def test_the_public_surface_is_small() -> None:
    public = sorted(
        info.name for info in pkgutil.iter_modules([str(PACKAGE)]) if not info.name.startswith("_")
    )
    assert public == ["auto", "check", "cli", "factory", "launcher", "pytest_plugin", "testing"]
    assert len(public) <= 8


def test_the_launcher_triggers_cover_every_integration() -> None:
    triggers = set(launcher.triggers())
    assert "lifespan_state" in triggers
    for row in SUPPORTED.values():
        assert {module.partition(".")[0] for module in row.imports} <= triggers
    env = launcher.bootstrap_env({})
    assert env[launcher.TRIGGERS_ENV].split(",") == sorted(triggers)


def test_the_bootstrap_knows_no_integration_by_name() -> None:
    source = (PACKAGE / "_bootstrap" / "sitecustomize.py").read_text()
    for integration in IN_TREE:
        assert f'"{integration.module}"' not in source, integration.name


def test_every_integration_is_in_the_index() -> None:
    assert sorted(_index.INTEGRATIONS) == sorted(_load.in_tree())
    assert [i.name for i in _load.integrations()][: len(IN_TREE)] == [i.name for i in IN_TREE]


def test_a_relative_reference_without_a_package_says_what_to_do() -> None:
    bare = Integration(name="toy", kind="server", imports=("toy",), hooks="._hooks:SHIM")
    with pytest.raises(ValueError, match="package=__name__"):
        bare.resolve(bare.hooks)


def test_a_broken_entry_point_is_left_out_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = tmp_path / "broken_integration-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-integration\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[lifespan_state.integrations]\nbroken = no_such_module:INTEGRATION\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        names = [i.name for i in _load.integrations()]
    finally:
        sys.path.remove(str(tmp_path))
    assert names[: len(IN_TREE)] == [i.name for i in IN_TREE]
    assert "entry point 'broken'" in capsys.readouterr().err
    importlib.invalidate_caches()
