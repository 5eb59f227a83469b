"""The one table of supported server releases, and reading versions from metadata.

Everything that needs to know which releases we support reads it from here: the runtime gate in
each shim, the extras check in the tests, the README support table and the compatibility matrix.
Nothing here imports a server.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from packaging.version import InvalidVersion, Version

from ._errors import UnsupportedServerError

if sys.version_info >= (3, 10):
    from importlib import metadata as _metadata
else:  # pragma: no cover - Python 3.8/3.9
    import importlib.metadata as _metadata

__all__ = [
    "SUPPORTED",
    "Mode",
    "ModeRange",
    "ServerSupport",
    "decide_mode",
    "installed_version",
    "mode_for",
    "running_version",
]

#: How a shim treats a release. "add": the release has no lifespan state, the shim adds it.
#: "fix": the release has state but shares one copy between requests, the shim gives each request
#: its own. "native": the release does it right; the shim installs nothing.
Mode = str


@dataclass(frozen=True)
class ModeRange:
    """Releases ``low <= v < high`` (``high`` None: no upper bound) get ``mode``."""

    low: str
    high: Optional[str]
    mode: Mode
    why: str

    def contains(self, version: Version) -> bool:
        if version < Version(self.low):
            return False
        return self.high is None or version < Version(self.high)


@dataclass(frozen=True)
class ServerSupport:
    """What we know about one server: its supported ranges and the newest release we tested."""

    name: str
    ranges: Tuple[ModeRange, ...]
    newest_tested: str
    #: Releases a user is most likely pinned to; the README and the CI subset name them.
    notable: Tuple[str, ...]

    @property
    def minimum(self) -> str:
        return self.ranges[0].low

    def supported_text(self) -> str:
        return f">={self.minimum} (tested up to {self.newest_tested})"


SUPPORTED: Dict[str, ServerSupport] = {
    "uvicorn": ServerSupport(
        name="uvicorn",
        ranges=(
            ModeRange("0.11.0", "0.21.0", "add", "no lifespan state before 0.21.0"),
            ModeRange("0.21.0", "0.21.1", "fix", "0.21.0 shares one copy of the state"),
            ModeRange("0.21.1", None, "native", "per-request copies since 0.21.1"),
        ),
        newest_tested="0.54.0",
        notable=("0.11.8", "0.15.0", "0.17.6", "0.20.0", "0.21.0", "0.21.1"),
    ),
    "hypercorn": ServerSupport(
        name="hypercorn",
        ranges=(
            ModeRange("0.11.0", "0.17.0", "add", "no lifespan state before 0.17.0"),
            ModeRange("0.17.0", "0.18.0", "fix", "0.17.x copies the state once per connection"),
            ModeRange(
                "0.18.0",
                None,
                "fix",
                "0.18.0 copies a startup snapshot on trio and HTTP/3 and deep-copies the state "
                "in ProxyFixMiddleware",
            ),
        ),
        newest_tested="0.18.0",
        notable=("0.11.2", "0.13.2", "0.14.4", "0.16.0", "0.17.3", "0.18.0"),
    ),
}


def installed_version(distribution: str) -> Optional[Version]:
    """The installed release of ``distribution`` from its metadata, or None when unreadable.

    None covers a missing distribution as well as broken metadata (no ``Version`` field, or one
    that is not PEP 440): callers then fall back to feature probes.
    """
    try:
        text = _metadata.version(distribution)
    except Exception:  # PackageNotFoundError, or a broken METADATA file
        return None
    if not text:
        return None
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
    version = installed_version(server)
    if version is not None:
        return version, "distribution metadata"
    module: Any = sys.modules.get(server)
    try:
        return Version(str(module.__version__)), f"{server}.__version__"
    except (AttributeError, InvalidVersion):
        return None, "no readable version"


def mode_for(server: str, version: Version) -> Optional[ModeRange]:
    """The range holding ``version``, or None when it is older than anything we support."""
    for entry in SUPPORTED[server].ranges:
        if entry.contains(version):
            return entry
    return None


def is_newer_than_tested(server: str, version: Version) -> bool:
    """True for a release newer than the newest we ran: its mode is decided by probing."""
    return version > Version(SUPPORTED[server].newest_tested)


def decide_mode(server: str, native: bool) -> Tuple[Mode, str, Optional[Version]]:
    """(mode, why, version) for the imported ``server``; raises when the release is too old.

    ``native`` is the shim's feature probe: does the code in this process have lifespan state?
    The table decides inside the tested range; the probe decides beyond it, and wins where the
    metadata and the code disagree (vendored or patched copies).
    """
    version, source = running_version(server)
    if version is None:
        # Without a version, a release with state might be a buggy one: fixing a correct server
        # is harmless (same semantics, one extra copy), missing a per-connection copy is not.
        return ("fix" if native else "add"), f"version unknown ({source}); probed", None
    entry = mode_for(server, version)
    if entry is None:
        raise UnsupportedServerError(server, str(version), SUPPORTED[server].supported_text())
    if is_newer_than_tested(server, version):
        if native:
            mode = SUPPORTED[server].ranges[-1].mode
            return mode, f"{version} is newer than tested; the probe found lifespan state", version
        return "add", f"{version} is newer than tested; the probe found no lifespan state", version
    if entry.mode != "add" and not native:
        return "add", f"metadata says {version} but the code has no lifespan state", version
    if entry.mode == "add" and native:
        return "fix", f"metadata says {version} but the code has lifespan state", version
    return entry.mode, entry.why, version
