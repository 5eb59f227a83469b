"""What is installed here, by import package as well as by distribution name.

A server's code can be installed by a distribution of another name: nonecorn installs hypercorn's
code as the import package ``hypercorn``, with no ``hypercorn`` distribution. The kit runs the
import package, so it reads the version of whatever distribution installed it (:func:`providing`)
and finds a server's integration from a distribution's import packages (:func:`packages_of`).
Metadata only: nothing here imports a server.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, List, Optional, Tuple

__all__ = ["packages_of", "providing"]


def _top_level(dist: Any) -> List[str]:
    """The import packages (and top-level modules) ``dist`` installs."""
    text = dist.read_text("top_level.txt")
    if text:
        return [str(name) for name in text.split()]
    names = set()
    for path in dist.files or ():  # wheels built without top_level.txt: the files themselves
        top = path.parts[0] if path.parts else ""
        if path.suffix == ".py" and not top.endswith((".dist-info", ".egg-info", ".data")):
            names.add(top[:-3] if top.endswith(".py") else top)
    return sorted(names)


def packages_of(distribution: str) -> List[str]:
    """The import packages the installed ``distribution`` provides ([] when it is not installed)."""
    try:
        return _top_level(metadata.distribution(distribution))
    except Exception:  # not installed, or unreadable metadata
        return []


def providing(distribution: str, package: str) -> Optional[Tuple[str, str]]:
    """(distribution, version) of what installed ``package`` here: ``distribution`` itself when it
    is installed, else the distribution that ships ``package`` under another name; None when
    neither is installed."""
    try:
        return distribution, metadata.version(distribution)
    except Exception:  # PackageNotFoundError, or a broken METADATA file
        pass
    for dist in metadata.distributions():
        try:
            if package in _top_level(dist):
                return str(dist.metadata["Name"]), str(dist.version)
        except Exception:  # one broken distribution does not hide the others
            continue
    return None
