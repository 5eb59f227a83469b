"""The upstream patch series in ``patches/``: well-formed, applicable, and proven on real servers.

Default run: the format of every series, every series applied to its release's sdist (cheap), and
the full proof (patched server or harness passes the check kit with the shim off, pristine release
fails it; the release's own tests pass on the series ``git am``'d onto a repository of its sdist, and
the series' tests fail on the pristine release) for Debian 12's uvicorn 0.17.6 and hypercorn 0.13.2
and for the test harnesses' series (in-process: cheap). ``-m slow`` proves every series.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest
from tools.patches import (
    PATCHES,
    SERIES,
    Series,
    apply_to_sdist,
    find_series,
    is_test_path,
    prove,
    split_files,
)

from lifespan_state._integrations._load import integrations

ON_DISK = find_series()
DEFAULT = [s for s in ON_DISK if s.default]
SLOW = [s for s in ON_DISK if not s.default]


def _ids(series: List[Series]) -> List[str]:
    return [s.name for s in series]


def test_every_directory_is_a_known_series() -> None:
    dirs = {f"{d.parent.name}/{d.name}" for d in PATCHES.glob("*/*") if d.is_dir()}
    assert dirs, "no patch series found"
    assert dirs == {s.name for s in ON_DISK}, "a series directory is missing from tools.patches.SERIES"


def test_debian_series_exist() -> None:
    names = {s.name for s in ON_DISK}
    assert {"uvicorn/0.17.6", "hypercorn/0.13.2"} <= names
    assert {"uvicorn/0.17.6", "hypercorn/0.13.2"} <= {s.name for s in DEFAULT}


def test_harness_series_are_checked_as_harnesses() -> None:
    """A harness's series runs the kit with ``--harness KEY``, a server's with ``--server NAME``."""
    harnesses = {i.name: i.harnesses[0][0] for i in integrations() if i.harnesses}
    for series in SERIES:
        if series.server in harnesses:
            assert series.target == ("--harness", harnesses[series.server])
        else:
            assert series.target == ("--server", series.server)
    proven = {s.server for s in ON_DISK if s.target[0] == "--harness"}
    assert proven, "no harness series"
    # the default run proves every harness series (cheap: no server processes)
    assert {s.name for s in ON_DISK if s.target[0] == "--harness"} <= {s.name for s in DEFAULT}


def test_readme_lists_every_series() -> None:
    readme = (PATCHES / "README.md").read_text()
    for series in ON_DISK:
        for patch in series.patches():
            assert f"{series.name}/{patch.name}" in readme, f"{patch} is not in patches/README.md"


@pytest.mark.parametrize("series", ON_DISK, ids=_ids(ON_DISK))
def test_series_format(series: Series) -> None:
    """git format-patch files with DEP-3 headers, numbered from 0001, tests and changelog inside."""
    patches = series.patches()
    assert [p.name[:4] for p in patches] == [f"{i:04d}" for i in range(1, len(patches) + 1)]
    files_touched: List[str] = []
    for patch in patches:
        text = patch.read_text()
        header, files = split_files(text)
        assert text.startswith("From 0000000000000000000000000000000000000000 "), patch
        assert re.search(r"^Subject: \[PATCH[^\]]*\] \S", header, re.M), patch
        assert re.search(r"^From: .+ <.+@.+>$", header, re.M), patch
        for field in ("Description", "Origin", "Forwarded", "Last-Update"):
            assert re.search(rf"^{field}: \S", header, re.M), f"{patch.name}: no DEP-3 {field}"
        assert re.search(r"^Last-Update: \d{4}-\d{2}-\d{2}$", header, re.M)
        assert files, f"{patch.name} changes nothing"
        files_touched += files
    assert any(is_test_path(f) for f in files_touched), f"{series.name} adds no tests"
    if series.changelog:  # empty: upstream keeps no changelog file (release notes elsewhere)
        assert any(
            f == series.changelog or Path(f).name.lower().startswith(series.changelog.lower())
            for f in files_touched
        ), f"{series.name} has no changelog line"
    source = [f for f in files_touched if not is_test_path(f) and f.endswith(".py")]
    assert source and all(f.startswith((f"{series.package}/", f"src/{series.package}/")) for f in source)


@pytest.mark.parametrize("series", ON_DISK, ids=_ids(ON_DISK))
def test_series_applies_to_the_release_sdist(series: Series) -> None:
    applied = apply_to_sdist(series, fresh=True)
    assert applied.applied, "nothing of the series applied"
    # only tests and documentation may be left out of an sdist
    for skipped in applied.skipped:
        path = skipped.split(": ", 1)[1]
        assert is_test_path(path) or path.endswith((".md", ".rst", ".txt")), skipped
    tree = applied.tree
    (package,) = [d for d in (tree / series.package, tree / "src" / series.package) if d.is_dir()]
    # the applied tree really carries the change (not the pristine release)
    texts = "".join(p.read_text() for p in package.rglob("*.py"))
    assert "state" in texts and ".copy()" in texts


@pytest.mark.parametrize("series", DEFAULT, ids=_ids(DEFAULT))
def test_patched_release_passes_the_check_kit_without_the_shim(series: Series) -> None:
    proof = prove(series)
    assert not proof.error, proof.error
    assert proof.runs, "no check-kit run"
    for label, patched_fails, release_fails, must_fail in proof.runs:
        # "applicable": a check that fails here for the pristine release with the shim on too
        # (a limit of the release or of this machine, reported by the proof) is not asked of it
        excused = proof.not_applicable.get(label, [])
        real = [c for c in patched_fails if c not in excused]
        assert real == [], f"{label}: patched {series.name} fails {real}"
        assert not (set(excused) & set(must_fail)), "a series must fix what it is written for"
        # negative control: the pristine release fails what the series is written to fix
        assert set(must_fail) <= set(release_fails), f"{label}: release fails only {release_fails}"
    suite = proof.suite
    assert suite is not None and suite.ok, suite
    if suite.patched:
        # the series' own tests ran, and fail on the pristine release (their negative control)
        assert " passed" in suite.patched and " failed" in suite.pristine, suite
    assert proof.ok
    # a patched run may be repeated once (loaded machine); say so in the test output
    for note in proof.retried:
        print(f"{series.name}: failed once, repeated: {note}")
    for label, checks in proof.not_applicable.items():
        print(f"{series.name} {label}: not applicable here: {checks}")


@pytest.mark.slow
@pytest.mark.parametrize("series", SLOW, ids=_ids(SLOW))
def test_every_series_is_proven(series: Series) -> None:
    proof = prove(series)
    assert proof.ok, proof.error or proof.problems()


def test_series_table_names_configurations_the_kit_knows() -> None:
    for series in SERIES:
        assert series.native_fails, f"{series.name}: a series must say what the release fails"
        for options in series.configs:
            assert len(options) % 2 == 0 and all(o.startswith("--") for o in options[::2])

