"""The supported-releases table: ranges, the extras that mirror it, version errors."""

from __future__ import annotations

import re
import sys
from typing import Any, Dict, List, Set

import pytest
from packaging.version import Version

from lifespan_state import UnsupportedServerError
from lifespan_state._versions import SUPPORTED, installed_version, is_newer_than_tested, mode_for
from script_support import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


@pytest.mark.parametrize(
    ("server", "version", "mode"),
    [
        ("uvicorn", "0.11.0", "add"),
        ("uvicorn", "0.20.0", "add"),
        ("uvicorn", "0.21.0", "fix"),
        ("uvicorn", "0.21.1", "native"),
        ("uvicorn", "0.54.0", "native"),
        ("hypercorn", "0.11.0", "add"),
        ("hypercorn", "0.16.0", "add"),
        ("hypercorn", "0.17.3", "fix"),
        ("hypercorn", "0.18.0", "fix"),
    ],
)
def test_mode_for(server: str, version: str, mode: str) -> None:
    entry = mode_for(server, Version(version))
    assert entry is not None and entry.mode == mode


def test_older_than_supported_has_no_mode() -> None:
    assert mode_for("uvicorn", Version("0.10.9")) is None
    assert mode_for("hypercorn", Version("0.10.2")) is None


def test_ranges_are_contiguous() -> None:
    for support in SUPPORTED.values():
        for before, after in zip(support.ranges, support.ranges[1:]):
            assert before.high == after.low
        assert support.ranges[-1].high is None


def test_newer_than_tested() -> None:
    assert is_newer_than_tested("uvicorn", Version("99.0"))
    assert not is_newer_than_tested("uvicorn", Version(SUPPORTED["uvicorn"].newest_tested))


def test_extras_follow_the_table() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for name, support in SUPPORTED.items():
        assert extras[name] == [f"{name}>={support.minimum}"]


#: Development tools: they belong in the PEP 735 dependency groups, never in a published extra.
DEV_TOOLS = {"pytest", "pytest-timeout", "uv", "mypy", "ruff", "check-jsonschema"}


def _names(groups: Dict[str, List[Any]], group: str) -> Set[str]:
    """The distributions a dependency group names, its ``include-group`` entries resolved."""
    names: Set[str] = set()
    for item in groups[group]:
        if isinstance(item, dict):
            names |= _names(groups, item["include-group"])
        else:
            names.add(re.split(r"[\s;<>=!~\[]", item, maxsplit=1)[0].lower())
    return names


def test_development_tools_are_groups_not_extras() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    published = set().union(*(_names(extras, name) for name in extras))
    assert published & DEV_TOOLS == set(), published & DEV_TOOLS
    groups = pyproject["dependency-groups"]
    assert _names(groups, "test") | _names(groups, "lint") >= DEV_TOOLS
    # mypy reads the typed libraries the package's optional parts import: lint brings them
    assert {"mypy", "ruff", "httpx", "anyio", "asgi-lifespan", "pytest"} <= _names(groups, "lint")


def test_unsupported_error_names_found_wanted_and_what_to_do() -> None:
    error = UnsupportedServerError("uvicorn", "0.10.9", SUPPORTED["uvicorn"].supported_text())
    text = str(error)
    assert "0.10.9" in text and ">=0.11.0" in text and "pip install 'uvicorn>=0.11.0'" in text


def test_missing_distribution_reads_as_none() -> None:
    assert installed_version("no-such-distribution-lifespan-state") is None
