"""What the package index and an sdist user get: license, classifiers, a description that starts
with prose and whose links work off the repository, and every file the README and docs/ name.

Builds the real sdist and wheel of this checkout (``uv build``) and reads them back.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from typing import Iterator, List, Tuple

import pytest
from tools.envs import ROOT, uv
from tools.matrix import SERVER_ORDER

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

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


def _description(meta: str) -> str:
    return meta.split("\n\n", 1)[1]  # the body after the headers is the long description


def test_description_has_no_relative_links(built: Tuple[List[str], List[str], str]) -> None:
    """The package index shows the README without the repository around it: a relative link or
    an in-page anchor there goes nowhere, so the build spells them out (hatch_build.py)."""
    description = _description(built[2])
    links = re.findall(r"\]\(([^)]+)\)", description) + re.findall(r'(?:href|src)="([^"]+)"', description)
    relative = [link for link in links if not re.match(r"https?://", link)]
    assert relative == [], relative
    # Negative control: the README itself has such links, which the build rewrote.
    assert re.search(r"\]\(docs/", README), "README.md links no docs/ page"
    assert "`docs/CONTRIBUTING.md` (in the source distribution)" in description


def test_description_starts_with_prose(built: Tuple[List[str], List[str], str]) -> None:
    """What the index shows first is what the package is, not a command to run."""
    meta = Parser().parsestr(built[2])
    assert meta["Description-Content-Type"] == "text/markdown"
    blocks = [b for b in _description(built[2]).split("\n\n") if b.strip()]
    title, first = blocks[0], blocks[1]
    assert title.startswith("# ") and "\n" not in title.strip(), title
    assert not first.lstrip().startswith(("```", "#", "|", "-", "<")), first
    assert len(first.split()) >= 30 and first.rstrip().endswith("."), first


def test_summary_names_what_is_covered(built: Tuple[List[str], List[str], str]) -> None:
    summary = Parser().parsestr(built[2])["Summary"]
    assert "every" not in summary, summary  # "every uvicorn and hypercorn release" was not true
    for server in SERVER_ORDER:
        assert server in summary, (server, summary)


def test_one_version_everywhere(built: Tuple[List[str], List[str], str]) -> None:
    """pyproject.toml reads the version from lifespan_state.__version__; the wheel carries it, and
    CHANGELOG.md's top entry is that release."""
    import lifespan_state

    assert Parser().parsestr(built[2])["Version"] == lifespan_state.__version__
    (top,) = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)[:1]
    assert top == lifespan_state.__version__, (top, lifespan_state.__version__)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]  # no second copy


def _named_files() -> List[str]:
    """Repository files the README and docs/ name (``BENCHMARKS.md``, ``patches/``, ...): code
    spans name them from the checkout's root, links from the page's own directory."""
    names = set()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        named = [(ROOT, span) for span in re.findall(r"`([^`\s]+)`", text)]
        named += [(page.parent, link.split("#", 1)[0]) for link in re.findall(r"\]\(([^)\s]+)\)", text)]
        for base, name in named:
            name = name.rstrip(".,:;")
            if not re.fullmatch(r"[\w.-]+(/[\w.-]+)*/?", name) or name in {".", ".."}:
                continue
            path = (base / name).resolve()
            if path.exists() and ROOT in path.parents:
                names.add(path.relative_to(ROOT).as_posix() + ("/" if path.is_dir() else ""))
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
