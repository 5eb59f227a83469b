"""The one table of supported releases, and reading versions from metadata.

Everything that needs to know which releases we support reads it from here: the registry (which
integration handles which distribution, and which imports load it), the decision of each shim,
the extras check in the tests, the README support table and the compatibility matrix. The rows
are the descriptors' (``_integrations/``). Nothing here imports a server.

Kept cheap on purpose: ``import lifespan_state.auto`` reads this table before any server exists,
so the rows are plain slotted records (no :mod:`dataclasses`, no :mod:`typing` at run time) and
:mod:`packaging` and :mod:`importlib.metadata` are imported by the functions that need them.
"""

from __future__ import annotations

import sys

from ._errors import UnsupportedServerError
from ._integrations._index import ROWS

# The type checker's own constant: the imports below are for annotations only (never at run time).
MYPY = False
if MYPY:  # pragma: no cover
    from typing import Any, Dict, Optional, Tuple

    from packaging.version import Version

    from ._shim import Mode

__all__ = [
    "SUPPORTED",
    "ModeRange",
    "ServerSupport",
    "installed_by",
    "installed_version",
    "is_newer_than_tested",
    "mode_for",
    "row",
    "running_version",
    "server_module",
]


class _Record:
    """A frozen record of ``__slots__`` fields, compared and shown by value."""

    __slots__: Tuple[str, ...] = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _set(self, **fields: object) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def _values(self) -> Tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._values() == self._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"


class ModeRange(_Record):
    """Releases ``low <= v < high`` (``high`` None: no upper bound) get ``mode``."""

    __slots__ = ("low", "high", "mode", "why")  # noqa: RUF023 - constructor order, shown by repr
    low: str
    high: Optional[str]
    mode: Mode
    why: str

    def __init__(self, low: str, high: Optional[str], mode: Mode, why: str) -> None:
        self._set(low=low, high=high, mode=mode, why=why)

    def contains(self, version: Version) -> bool:
        from packaging.version import Version

        if version < Version(self.low):
            return False
        return self.high is None or version < Version(self.high)


class ServerSupport(_Record):
    """One supported distribution: its ranges, what we tested, and where its integration lives.

    ``integration`` is the package holding the integration's descriptor (``INTEGRATION``), which
    the registry imports when one of ``imports`` — the import names that mean "this server or
    harness is in use" — has been imported. The rows come from the descriptors (through the
    generated ``_integrations/_index.py`` for the ones in this package).
    """

    __slots__ = ("name", "ranges", "newest_tested", "notable", "integration", "imports")  # noqa: RUF023 - constructor order
    name: str
    ranges: Tuple[ModeRange, ...]
    newest_tested: str
    #: Releases a user is most likely pinned to; the README and the CI subset name them.
    notable: Tuple[str, ...]
    integration: str
    imports: Tuple[str, ...]

    def __init__(
        self,
        name: str,
        ranges: Tuple[ModeRange, ...],
        newest_tested: str,
        notable: Tuple[str, ...],
        *,
        integration: str,
        imports: Tuple[str, ...],
    ) -> None:
        self._set(
            name=name, ranges=ranges, newest_tested=newest_tested, notable=notable,
            integration=integration, imports=imports,
        )  # fmt: skip

    @property
    def minimum(self) -> str:
        return self.ranges[0].low

    def supported_text(self) -> str:
        return f">={self.minimum} (tested up to {self.newest_tested})"


def row(
    name: str,
    newest_tested: str,
    notable: Tuple[str, ...],
    *ranges: Tuple[str, Mode, str],
    imports: Tuple[str, ...],
    integration: str,
) -> ServerSupport:
    """A row from its ranges as (first release, mode, why), oldest first: each range ends where
    the next one begins, the last is open-ended, so the table can have no gap."""
    highs = [low for low, _, _ in ranges[1:]] + [None]
    return ServerSupport(
        name,
        tuple(ModeRange(low, high, mode, why) for (low, mode, why), high in zip(ranges, highs)),
        newest_tested,
        tuple(notable),
        integration=integration,
        imports=tuple(imports),
    )


#: Distribution name -> what we support. The key is also the ``status()`` key. Integrations of
#: other distributions (the ``lifespan_state.integrations`` entry points) join it when found.
def _from_index(fields: Any) -> ServerSupport:  # a row of _integrations/_index.py
    return row(fields["name"], fields["newest_tested"], fields["notable"], *fields["ranges"],
               imports=fields["imports"], integration=fields["integration"])


SUPPORTED: Dict[str, ServerSupport] = {row.name: row for row in map(_from_index, ROWS)}


def server_module(distribution: str) -> str:
    """The top-level module of a supported distribution (where a ``__version__`` would be)."""
    return SUPPORTED[distribution].imports[0].partition(".")[0]


def installed_version(distribution: str) -> Optional[Version]:
    """The installed release of ``distribution`` from its metadata, or None when unreadable.

    None covers a missing distribution as well as broken metadata (no ``Version`` field, or one
    that is not PEP 440): callers then fall back to feature probes.
    """
    try:
        if sys.version_info >= (3, 10):
            from importlib import metadata
        else:  # pragma: no cover - Python 3.8/3.9
            import importlib.metadata as metadata

        text = metadata.version(distribution)
    except Exception:  # PackageNotFoundError, or a broken METADATA file
        return None
    if not text:
        return None
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return None


def running_version(server: str) -> Tuple[Optional[Version], str]:
    """(version, where it was read) for a server that is already imported.

    Distribution metadata first; with broken or missing metadata (vendored copies, odd installers)
    the module's ``__version__``, which every uvicorn and hypercorn 0.11 have (hypercorn >= 0.12
    does not). None when neither is readable: the shims then decide by feature probes alone.
    """
    from packaging.version import InvalidVersion, Version

    version = installed_version(server)
    if version is not None:
        return version, "distribution metadata"
    name = server_module(server)
    module: Any = sys.modules.get(name)
    try:
        return Version(str(module.__version__)), f"{name}.__version__"
    except (AttributeError, InvalidVersion):
        return None, "no readable version"


def installed_by(distribution: str, package: str) -> Optional[str]:
    """"nonecorn 0.18.0" when the import package ``package`` here belongs to another distribution.

    A fork may install a server's code under the server's import name (nonecorn installs
    hypercorn 0.18.0's code as ``hypercorn``): there is then no ``distribution`` to read a version
    from, the probes decide alone, and ``status()`` names what installed it. None for the real
    distribution, when unreadable, and on Python < 3.10 (no cheap map of packages to
    distributions there).
    """
    try:
        from importlib import metadata

        if installed_version(distribution) is not None or not hasattr(metadata, "packages_distributions"):
            return None
        owners = [d for d in metadata.packages_distributions().get(package, []) if d != distribution]
        if not owners:
            return None
        return f"{owners[0]} {metadata.version(owners[0])}"
    except Exception:  # broken metadata: the probes decide anyway
        return None


def mode_for(server: str, version: Version) -> Optional[ModeRange]:
    """The range holding ``version``, or None when it is older than anything we support."""
    for entry in SUPPORTED[server].ranges:
        if entry.contains(version):
            return entry
    return None


def is_newer_than_tested(server: str, version: Version) -> bool:
    """True for a release newer than the newest we ran: its mode is decided by probing."""
    from packaging.version import Version

    return version > Version(SUPPORTED[server].newest_tested)


def unsupported(server: str, version: Version) -> UnsupportedServerError:
    """The error for a release older than the table's first range."""
    return UnsupportedServerError(server, str(version), SUPPORTED[server].supported_text())
