"""The documentation's links: every relative link in README.md and docs/*.md names a file of the
checkout, and every ``#anchor`` a heading of the page it points to (GitHub's heading slugs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

import pytest

from script_support import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Markdown links and HTML href/src attributes outside code blocks.
LINK = re.compile(r"\]\(([^)\s]+)\)|(?:href|src)=\"([^\"]+)\"")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _prose(text: str) -> str:
    """``text`` without fenced code blocks (a link inside one is an example, not a link)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _anchors(page: Path) -> List[str]:
    return [_slug(m) for m in re.findall(r"^#+ (.+)$", _prose(page.read_text()), flags=re.M)]


def _links(page: Path) -> List[str]:
    return [a or b for a, b in LINK.findall(_prose(page.read_text()))]


def _relative(page: Path) -> List[Tuple[str, str]]:
    return [(page.name, link) for link in _links(page) if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


def test_the_pages_link_each_other() -> None:
    """Guards the extraction: the README links the docs pages it moved its sections to."""
    targets = {link.split("#", 1)[0] for _, link in _relative(ROOT / "README.md")}
    assert {"docs/launcher.md", "docs/testing.md", "docs/CONTRIBUTING.md", "docs/debian.md"} <= targets


def _broken(page: Path) -> List[str]:
    broken = []
    for _, link in _relative(page):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{link}: {path.name} has no heading #{anchor}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    assert _broken(page) == []


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    """Negative control: a missing file and a missing anchor are reported, a good anchor and a
    link inside a code block are not."""
    page = tmp_path / "page.md"
    page.write_text(
        "# A title\n\n[a](missing.md) [b](#no-such-heading) [c](#a-title) [d](page.md#a-title)\n"
        "\n```md\n[e](also-missing.md)\n```\n"
    )
    assert _broken(page) == [
        "missing.md: no such file",
        "#no-such-heading: page.md has no heading #no-such-heading",
    ]


README_LINES = (ROOT / "README.md").read_text().splitlines()
SETUP_HEADING = "## Set up this checkout: the main job, and the tests"


def _setup_commands() -> List[str]:
    """The two commands of the README's set-up section: the main job, then the tests."""
    start = README_LINES.index(SETUP_HEADING)
    fence = README_LINES.index("```sh", start)
    return README_LINES[fence + 1 : README_LINES.index("```", fence + 1)]


def test_readme_is_a_front_door() -> None:
    """At most 200 lines; what to install and the one import on the first screen; the set-up
    section with its two commands within the first 80 lines."""
    assert len(README_LINES) <= 200, len(README_LINES)
    head = "\n".join(README_LINES[:40])
    assert "pip install lifespan-state-shim" in head and "import lifespan_state.auto" in head
    main_job, tests = _setup_commands()
    assert README_LINES.index(tests) < 80
    assert main_job.endswith("lifespan-state check") and tests.endswith("&& pytest")


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run installs what the README's test command installs (through .ci/install, which also
    serves Python 3.8) and runs the same pytest."""
    tests = _setup_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text()
    install = (ROOT / ".ci" / "install").read_text()
    assert "--group test" in tests and "pip install -U pip" in tests
    assert re.search(r"^PYTHON=\S+ bash \.ci/install test lint$", ci, flags=re.M)
    assert '"$PY" -m pip install -q -U pip' in install and '--group "$group"' in install
    assert re.search(r'^"\$PY" -m pytest$', ci, flags=re.M), "the README's `pytest`, no other selection"
