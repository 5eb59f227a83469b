"""Loading descriptors: this package's integrations and those of other distributions.

The check kit, ``status``, the launcher and the tools read every integration through
:func:`integrations`; the registry loads one when its server is imported (:func:`load`).
:func:`main` (``python -m lifespan_state._integrations._load``) writes ``_descriptors.json`` from
the ``integration.toml`` files and ``_index.py`` from the descriptors; unit tests keep them equal.
"""

from __future__ import annotations

import dataclasses
import functools
import pkgutil
import sys
from pathlib import Path
from pprint import pformat
from typing import Dict, List, Tuple

from . import _data, entry_points
from ._descriptor import Integration, resolve
from ._index import INTEGRATIONS

__all__ = ["IntegrationError", "by_name", "in_tree", "integrations", "load", "render_index"]

_HERE = Path(__file__).resolve().parent


class IntegrationError(Exception):
    """An integration's descriptor cannot be loaded; the message names it and why."""


@functools.lru_cache(maxsize=None)
def load(reference: str) -> Integration:
    """The descriptor named by ``"module:attribute"``, with its ``package`` filled in."""
    try:
        found = resolve(reference, "")
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise IntegrationError(f"integration {reference!r} cannot be loaded: {why}") from exc
    if not isinstance(found, Integration):
        what = type(found).__name__
        raise IntegrationError(f"integration {reference!r} is a {what}, not an Integration")
    if not found.package:
        found = dataclasses.replace(found, package=reference.partition(":")[0])
    return found


def in_tree() -> List[str]:
    """The references of this package's integrations (one sub-package each), found on disk."""
    return sorted(
        f"{__package__}.{info.name}:INTEGRATION"
        for info in pkgutil.iter_modules([str(_HERE)])
        if info.ispkg and not info.name.startswith("_")
    )


def integrations() -> List[Integration]:
    """Every integration: this package's (from the index) and the entry points', by rank.

    An entry point that cannot be loaded is left out with a warning, never an exception: one
    broken distribution must not take the check kit or ``status`` down.
    """
    # Read once per import path: the kit and the tools ask many times, and a broken entry point
    # is said once; a changed sys.path can bring other distributions.
    return list(_found(tuple(sys.path)))


@functools.lru_cache(maxsize=None)
def _found(path: Tuple[str, ...]) -> Tuple[Integration, ...]:
    found: Dict[str, Integration] = {}
    for reference in INTEGRATIONS:
        integration = load(reference)
        found[integration.name] = integration
    for name, reference in entry_points():
        try:
            integration = load(reference)
        except IntegrationError as exc:
            print(f"lifespan-state: warning: entry point {name!r}: {exc}", file=sys.stderr)
            continue
        found.setdefault(integration.name, integration)
    return tuple(sorted(found.values(), key=lambda i: (i.rank, i.name)))


def by_name(name: str) -> Integration:
    """The integration of distribution ``name``; KeyError when there is none."""
    for integration in integrations():
        if integration.name == name:
            return integration
    raise KeyError(name)


def render_index() -> str:
    """The text of ``_index.py`` for the integrations on disk."""
    loaded = sorted((load(r) for r in in_tree()), key=lambda i: (i.rank, i.name))
    references = [f"{i.package}:INTEGRATION" for i in loaded]
    rows = [
        {"name": i.name, "integration": f"{i.package}:INTEGRATION", "imports": i.imports,
         "newest_tested": i.newest_tested, "notable": i.notable, "ranges": i.ranges}
        for i in loaded
        if i.supported
    ]
    return (
        '"""Generated from the descriptors by ``python -m lifespan_state._integrations._load``: do not\n'
        "edit (tests/unit keeps it equal to them). Plain data, read at activation without importing\n"
        'a descriptor."""\n\n'
        "#: Every integration of this package (its descriptor), by rank.\n"
        f"INTEGRATIONS = {pformat(tuple(references), width=100)}\n\n"
        "#: The runtime table's rows of those the shim acts on (``lifespan_state._versions``), one a line.\n"
        "ROWS = (\n" + "".join(f"    {row!r},\n" for row in rows) + ")\n"
    )


def main() -> None:
    """Write ``_descriptors.json`` from the ``integration.toml`` files, then ``_index.py``."""
    _data.JSON.write_text(_data.render_json(_data.read_toml()), encoding="utf-8")
    _data.generated.cache_clear()
    load.cache_clear()
    (_HERE / "_index.py").write_text(render_index())


if __name__ == "__main__":
    main()
