"""What the package index and an sdist user get: license, classifiers, a description whose links
work off GitHub, and every file the README names.

Builds the real sdist and wheel of this checkout (``uv build``) and reads them back.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
import zipfile
from email.parser import Parser
from typing import Iterator, List, Tuple

import pytest
from tools.envs import ROOT, uv

README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[List[str], List[str], str]]:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [uv(), "build", "-q", "--out-dir", str(out), str(ROOT)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    with tarfile.open(sdist) as tar:
        # "lifespan_state_shim-0.1.0/README.md" -> "README.md"
        sdist_files = [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]
    with zipfile.ZipFile(wheel) as whl:
        wheel_files = whl.namelist()
        (metadata,) = [n for n in wheel_files if n.endswith(".dist-info/METADATA")]
        meta = whl.read(metadata).decode()
    yield sdist_files, wheel_files, meta


def test_license_file_ships(built: Tuple[List[str], List[str], str]) -> None:
    sdist, wheel, _ = built
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "LICENSE" in sdist
    assert any(name.endswith(".dist-info/licenses/LICENSE") or name.endswith("/LICENSE") for name in wheel), (
        wheel
    )


def test_metadata_license_classifiers_and_urls(built: Tuple[List[str], List[str], str]) -> None:
    meta = Parser().parsestr(built[2])
    classifiers = meta.get_all("Classifier") or []
    assert "License :: OSI Approved :: MIT License" in classifiers
    requires = meta["Requires-Python"]
    assert requires == ">=3.8", requires
    versions = sorted(
        (c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r".*:: 3\.\d+", c)),
        key=lambda v: int(v.split(".")[1]),
    )
    assert versions == [f"3.{minor}" for minor in range(8, 14)], versions  # what the matrix covers
    for url in meta.get_all("Project-URL") or []:  # none today; never a placeholder
        assert not re.search(r"example\.|TODO|<|your-?name|placeholder", url, re.I), url


def test_description_has_no_relative_links() -> None:
    """The package index shows the README without the repository around it: a relative link or
    an in-page anchor there goes nowhere."""
    links = re.findall(r"\]\(([^)]+)\)", README) + re.findall(r'(?:href|src)="([^"]+)"', README)
    relative = [link for link in links if not re.match(r"https?://", link)]
    assert relative == [], relative


def _named_files() -> List[str]:
    """Repository files the README names in code spans (``BENCHMARKS.md``, ``patches/``, ...)."""
    names = set()
    for span in re.findall(r"`([^`\s]+)`", README):
        span = span.rstrip(".,:;")
        if re.fullmatch(r"[\w.-]+(/[\w.-]+)*/?", span) and (ROOT / span).exists() and span not in {".", ".."}:
            names.add(span)
    return sorted(names)


def test_sdist_carries_what_the_readme_names(built: Tuple[List[str], List[str], str]) -> None:
    sdist = set(built[0])
    named = _named_files()
    # The ones the README points readers to must be among them (guards the extraction itself).
    for must in ("BENCHMARKS.md", "compat_matrix.md", "compat_matrix.json", "patches/README.md", ".ci/run"):
        assert must in named, (must, named)
    missing = [
        name
        for name in named
        if (name.rstrip("/") not in sdist and not any(f.startswith(name.rstrip("/") + "/") for f in sdist))
    ]
    assert missing == [], missing
