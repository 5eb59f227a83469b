"""The release facts the tools and tests use, read from the integrations' descriptors.

Each server's descriptor (``lifespan_state/_integrations/<name>/integration.toml``) holds three kinds of
facts (the classes are ``lifespan_state._integrations._matrix``'s):

* its ``releases`` — the releases a tool or test names on purpose (Debian's, the last one without
  lifespan state, the buggy one, the native reference): :data:`SERVERS`. The supported ranges and
  the newest tested release are the descriptor's own (``lifespan_state._versions.SUPPORTED``).
* its ``pins`` — what an old release needs installed next to it to install and run on a newer
  Python (``tools.envs`` applies them to every environment it builds): :func:`pins`.
* its ``limits`` — where a release cannot run at all, whatever the shim does (the matrix explains
  such cells with them, plans around them, and the tests pick configurations that avoid them):
  :func:`limit_for`.

Adding a server is its descriptor; a new tested release is its ``newest_tested`` plus a matrix
run. The facts come from installing every release on every Python here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lifespan_state._integrations._load import integrations
from lifespan_state._integrations._matrix import DEBIAN, Distribution, Limit, NamedReleases, Pin
from lifespan_state._versions import SUPPORTED

__all__ = [
    "DEBIAN",
    "SERVERS",
    "Distribution",
    "Limit",
    "NamedReleases",
    "Pin",
    "ServerReleases",
    "installs_without_deps",
    "limit_for",
    "limits",
    "pins",
]


@dataclass(frozen=True)
class ServerReleases(NamedReleases):
    """A descriptor's named releases with the server's name (a ``SUPPORTED`` key)."""

    name: str = ""

    @property
    def newest(self) -> str:
        """The newest release tested (the runtime table's ``newest_tested``)."""
        return SUPPORTED[self.name].newest_tested

    @property
    def minimum(self) -> str:
        """The oldest release supported (the runtime table's lowest bound)."""
        return SUPPORTED[self.name].minimum


#: Every server whose descriptor names releases, by rank.
SERVERS: Dict[str, ServerReleases] = {
    i.name: ServerReleases(**dataclasses.asdict(i.releases), name=i.name)
    for i in integrations()
    if i.releases is not None
}

_PINS = {i.name: i.pins for i in integrations()}
_LIMITS = {i.name: i.limits for i in integrations()}


def pins(server: str, version: str, python: str, extra: Sequence[str] = ()) -> List[str]:
    """The requirements ``server``'s pins add for ``server==version`` on ``python`` with ``extra``."""
    names = [_name(e) for e in extra]
    v, py = Version(version), Version(python)
    return [pin.requirement for pin in _PINS.get(server, ()) if pin.applies(v, py, names)]


def _name(requirement: str) -> str:
    """``"h2<4.3"`` -> ``"h2"``: an extra requirement counts by its distribution name."""
    for index, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:index].strip()
    return requirement


def installs_without_deps(server: str, version: str) -> bool:
    """True for releases installed with ``--no-deps`` (``NamedReleases.without_deps``)."""
    known = SERVERS.get(server)
    if known is None or not known.without_deps:
        return False
    return Version(version) in SpecifierSet(known.without_deps)


def limits(server: str) -> Tuple[Limit, ...]:
    """``server``'s limits, in its descriptor's order (none for a server without a descriptor)."""
    return _LIMITS.get(server, ())


def limit_for(server: str, version: str, python: Optional[str], http: str = "", ws: str = "",
              worker: str = "") -> Optional[Limit]:
    """The first of ``server``'s limits that keeps ``server==version`` from running there, or None."""
    for limit in limits(server):
        if limit.applies(version, python, http, ws, worker):
            return limit
    return None
