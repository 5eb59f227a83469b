"""An integration from another distribution: lifespan-state-shim serves a server it was never
edited for, found through the ``lifespan_state.integrations`` entry-point group.

Two tiny distributions are built here as wheels and installed into a fresh virtual environment:
``toyserver`` (tests/scripts/toy_dist/toyserver: an ASGI server without lifespan state) and
``lifespan-state-toyserver``, whose entry point names its integration
(tests/scripts/toy_dist/toy_integration). ``status()`` and the check kit see it; built without the
entry point, neither does — the negative control.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, Iterator

import pytest

from script_support import SCRIPTS

TOY = SCRIPTS / "toy_dist"


def _wheel(directory: Path, name: str, package: str, entry_points: str = "") -> Path:
    """A pure-Python wheel of ``package`` (a directory under TOY) as distribution ``name`` 1.0."""
    dist = f"{name.replace('-', '_')}-1.0"
    path = directory / f"{dist}-py3-none-any.whl"
    files: Dict[str, str] = {
        f"{package}/{source.name}": source.read_text() for source in sorted((TOY / package).glob("*.py"))
    }
    files[f"{dist}.dist-info/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    files[f"{dist}.dist-info/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    if entry_points:
        files[f"{dist}.dist-info/entry_points.txt"] = entry_points
    files[f"{dist}.dist-info/RECORD"] = "".join(f"{f},,\n" for f in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def _venv(root: Path, with_entry_point: bool) -> Path:
    """A virtual environment that sees this environment's packages (lifespan_state, wrapt, the
    kit's clients) through a ``.pth`` file, with the two toy distributions installed into it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ours = [sysconfig.get_paths()["purelib"], *(p for p in sys.path if p.endswith("shims"))]
    (Path(purelib) / "outer.pth").write_text("\n".join(ours) + "\n")
    group = "[lifespan_state.integrations]\ntoyserver = toy_integration:INTEGRATION\n"
    wheels = [
        _wheel(root, "toyserver", "toyserver"),
        _wheel(root, "lifespan-state-toyserver", "toy_integration", group if with_entry_point else ""),
    ]
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
         *map(str, wheels)],
        check=True,
    )  # fmt: skip
    return python


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield _venv(tmp_path_factory.mktemp("toy"), with_entry_point=True)


@pytest.fixture(scope="module")
def toy_without_entry_point(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield _venv(tmp_path_factory.mktemp("toy-bare"), with_entry_point=False)


_STATUS = (
    "import json, lifespan_state, toyserver; lifespan_state.activate(); "
    "s = lifespan_state.status().get('toyserver'); print(json.dumps(s and s.as_dict()))"
)


def test_status_sees_an_integration_of_another_distribution(toy: Path) -> None:
    done = subprocess.run([str(toy), "-c", _STATUS], capture_output=True, text=True, check=True)
    row = json.loads(done.stdout)
    assert row["installed"] == "1.0" and row["mode"] == "add", row
    assert row["patched"] == ["toyserver.Server.__init__"], row


def test_without_its_entry_point_the_shim_knows_nothing_of_it(toy_without_entry_point: Path) -> None:
    done = subprocess.run([str(toy_without_entry_point), "-c", _STATUS], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert json.loads(done.stdout) is None


def _check(python: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "lifespan_state", "check", "--server", "toyserver", "--shim", "both", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_kit_checks_it_natively_and_with_the_shim(toy: Path) -> None:
    done = _check(toy)
    document = json.loads(done.stdout)
    by_arm = {r["shim"]: {c["id"]: c["status"] for c in r["checks"]} for r in document["results"]}
    # Natively the toy has no lifespan state (S1 fails); the integration adds it.
    assert by_arm["off"]["S1"] == "fail", by_arm
    assert "fail" not in by_arm["on"].values(), by_arm
    assert by_arm["on"]["S1"] == by_arm["on"]["S5"] == by_arm["on"]["S11"] == "pass", by_arm
    assert done.returncode == 0, done.stderr  # with --shim both, the shim's arm decides


def test_without_its_entry_point_the_kit_has_no_such_server(toy_without_entry_point: Path) -> None:
    done = _check(toy_without_entry_point)
    assert done.returncode == 2
    assert "toyserver" in done.stderr
