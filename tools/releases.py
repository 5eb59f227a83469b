"""The one table of release facts the tools and tests use.

Three kinds of facts, each a row:

* :data:`SERVERS` — the releases a tool or test names on purpose (Debian's, the last one without
  lifespan state, the buggy ones, the native reference). The supported ranges and the newest tested
  release are not repeated here: they are the runtime's (``lifespan_state._versions.SUPPORTED``)
  and are read from there.
* :data:`PINS` — what an old release needs installed next to it to install and run on a newer
  Python (``tools.envs`` applies them to every environment it builds).
* :data:`LIMITS` — where a release cannot run at all, whatever the shim does (the matrix explains
  such cells with them, plans around them, and the tests pick configurations that avoid them).

Adding a server is a row in :data:`SERVERS` (plus any pins or limits it has); a new tested release
is ``newest_tested`` in ``SUPPORTED`` plus a matrix run. The facts come from installing every
release on every Python here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lifespan_state._versions import SUPPORTED

__all__ = [
    "DEBIAN",
    "HYPERCORN",
    "LIMITS",
    "PINS",
    "SERVERS",
    "UVICORN",
    "Distribution",
    "Limit",
    "Pin",
    "ServerReleases",
    "installs_without_deps",
    "limit_for",
    "pins",
]


@dataclass(frozen=True)
class Distribution:
    """What a Linux distribution ships: the environment users of its packages run."""

    name: str
    python: str
    wrapt: str
    starlette: str


#: Debian 12 (bookworm): Python 3.11, python3-wrapt 1.14.1, python3-starlette 0.26.1.
DEBIAN = Distribution("Debian 12", python="3.11", wrapt="1.14.1", starlette="0.26.1")


@dataclass(frozen=True)
class ServerReleases:
    """The named releases of one server (a distribution name: the ``SUPPORTED`` key)."""

    name: str
    #: Debian 12's package of the server.
    debian: str
    #: The newest release without lifespan state: the shim adds it ("add" mode).
    last_stateless: str
    #: The newest release whose own state is shared between requests: the shim fixes it ("fix").
    buggy: str
    #: A release whose own state is right: tests compare the shimmed old releases with it.
    reference: str
    #: The release without state that the soak and the reliability tests run the shim on.
    soaked: str
    #: Releases installed with ``--no-deps`` (their hard requirements do not build on new Pythons;
    #: :data:`PINS` lists what they need instead): a specifier, empty for none.
    without_deps: str = ""

    @property
    def newest(self) -> str:
        """The newest release tested (the runtime table's ``newest_tested``)."""
        return SUPPORTED[self.name].newest_tested

    @property
    def minimum(self) -> str:
        """The oldest release supported (the runtime table's lowest bound)."""
        return SUPPORTED[self.name].minimum


UVICORN = ServerReleases(
    "uvicorn",
    debian="0.17.6",
    last_stateless="0.20.0",
    buggy="0.21.0",  # one copy per connection (upstream #1902); 0.21.1 fixed it
    reference="0.21.1",  # the first release with per-request copies
    soaked="0.17.6",  # Debian's
    # 0.11 hard-requires httptools==0.1.* (and uvloop) on Linux; httptools 0.1 does not build on
    # Python >= 3.11 (so: the plain package plus what it needs).
    without_deps="<0.12",
)
HYPERCORN = ServerReleases(
    "hypercorn",
    debian="0.13.2",
    last_stateless="0.16.0",
    buggy="0.17.3",  # 0.17.x: one copy per TCP connection / UDP socket
    reference="0.18.0",  # per-request copies on asyncio (trio / HTTP/3: a startup snapshot)
    soaked="0.16.0",  # the last without state
)

#: Every server and harness the tools and tests know by name.
SERVERS: Dict[str, ServerReleases] = {r.name: r for r in (UVICORN, HYPERCORN)}


def _spec(text: str) -> SpecifierSet:
    return SpecifierSet(text) if text else SpecifierSet()


@dataclass(frozen=True)
class Pin:
    """``requirement`` is installed with ``server`` releases in ``releases`` when ``extra`` (one of
    an environment's extra requirements, by name) is asked for — always when ``extra`` is empty —
    on Pythons in ``python``. ``required_on``: Pythons where the release needs it even unasked
    (a hard requirement of a release installed without its dependencies)."""

    server: str
    releases: str
    requirement: str
    why: str
    extra: str = ""
    python: str = ""
    required_on: Optional[str] = None

    def applies(self, server: str, version: Version, python: Version, extra: Sequence[str]) -> bool:
        if server != self.server or version not in _spec(self.releases):
            return False
        if python not in _spec(self.python):
            return False
        if not self.extra or self.extra in extra:
            return True
        return self.required_on is not None and python in _spec(self.required_on)


#: Pins in the order an environment lists them (the order is part of its cache key).
PINS: Tuple[Pin, ...] = (
    # uvicorn 0.11: its own hard requirements, installed by hand (see UVICORN.without_deps).
    Pin("uvicorn", "<0.12", "click==7.*", "0.11's requirement"),
    Pin("uvicorn", "<0.12", "h11>=0.8,<0.10", "0.11's requirement"),
    Pin("uvicorn", "<0.12", "websockets==8.*", "0.11's requirement"),
    Pin("uvicorn", "<0.12", "uvloop>=0.14,<0.22", "0.11's requirement"),
    Pin("uvicorn", "<0.12", "httptools==0.1.*", "0.11's requirement; builds on <= 3.10 only",
        extra="httptools", required_on="<3.11"),
    Pin("uvicorn", "<0.12", "wsproto<1.0",
        "wsproto >= 1.0 needs h11 >= 0.10 (h11._headers.Headers), which 0.11 excludes", extra="wsproto"),
    Pin("uvicorn", ">=0.12,<0.14", "websockets==8.*", "the [standard] pin", extra="websockets"),
    Pin("uvicorn", ">=0.12,<0.14", "httptools==0.1.*", "the [standard] pin; builds on <= 3.10 only",
        extra="httptools"),
    # [standard] says >=9.1; 9.x is the series 0.14/0.15 were written against, and websockets < 10
    # passes loop= to asyncio, which Python 3.10 removed.
    Pin("uvicorn", ">=0.14,<0.16", "websockets>=9.1,<10", "the [standard] pin's era", extra="websockets",
        python="<3.10"),
    Pin("uvicorn", ">=0.14,<0.16", "websockets>=10,<11", "websockets < 10 passes loop= (gone in 3.10)",
        extra="websockets", python=">=3.10"),
    Pin("uvicorn", ">=0.14,<0.16", "httptools==0.2.*", "the [standard] pin; builds on <= 3.10 only",
        extra="httptools"),
    Pin("uvicorn", ">=0.16,<0.17", "httptools>=0.2.0,<0.4.0", "the [standard] pin", extra="httptools"),
    Pin("uvicorn", ">=0.12,<0.15", "uvloop<0.22",
        "0.11-0.14 call asyncio.get_event_loop() in Server.run; uvloop >= 0.22 breaks it", extra="uvloop"),
    Pin("hypercorn", "<0.14.4", "trio<0.24",
        "0.11-0.14.3 catch trio.MultiError, which trio 0.24.0 removed (0.23.2 still runs their "
        "shutdown path: the lifespan shutdown of 0.13.2's trio worker needs it)", extra="trio"),
    Pin("hypercorn", "<0.18", "aioquic>=0.9.0,<1.0", "the [h3] pin", extra="aioquic"),
    Pin("hypercorn", "<0.18", "h2<4.3",
        "the h2c Upgrade of releases < 0.18 fails after the 101 with h2 >= 4.3 (TypeError)", extra="h2"),
    Pin("anycorn", "==0.18.7", "sniffio", "0.18.7 imports sniffio, its wheel does not declare it"),
)


@dataclass(frozen=True)
class Limit:
    """A configuration a release cannot run in, natively or with the shim: ``server`` releases in
    ``releases`` on Pythons in ``python`` with any of the named implementations (empty: any).
    ``text`` is what the matrix says about it (compat_matrix.md lists every limit)."""

    server: str
    releases: str
    text: str
    python: str = ""
    http: Tuple[str, ...] = ()
    ws: Tuple[str, ...] = ()
    worker: Tuple[str, ...] = ()
    #: The plan does not run it at all (the outcome is not reliable either way).
    skipped: bool = False
    #: What runs there instead (``(("ws", "wsproto"),)``): the plan's default configuration of such
    #: a release on such a Python uses it.
    instead: Tuple[Tuple[str, str], ...] = ()

    def applies(self, server: str, version: str, python: Optional[str], http: str = "", ws: str = "",
                worker: str = "") -> bool:
        """``python`` None: on every Python (a limit bound to some Pythons does not apply)."""
        on_python = not self.python if python is None else Version(python) in _spec(self.python)
        return (
            server == self.server
            and Version(version) in _spec(self.releases)
            and on_python
            and all(not allowed or value in allowed
                    for value, allowed in ((http, self.http), (ws, self.ws), (worker, self.worker)))
        )


LIMITS: Tuple[Limit, ...] = (
    Limit("hypercorn", "<0.12",
          "hypercorn 0.11.x, asyncio worker: passes loop= to asyncio (removed in Python 3.10)",
          python=">=3.10", worker=("asyncio", "uvloop")),
    Limit("hypercorn", "<0.14",
          "hypercorn < 0.14, trio worker: a SIGINT often kills the process (exit -2) before "
          "lifespan.shutdown, natively as with the shim, so S10 cannot be observed reliably; not run",
          worker=("trio",), skipped=True),
    Limit("hypercorn", "<0.14.4",
          "hypercorn < 0.14.4, trio worker: needs trio < 0.24 (trio.MultiError), which does not run "
          "on Python 3.13", python=">=3.13", worker=("trio",)),
    Limit("uvicorn", "<0.14",
          "uvicorn < 0.14, websockets: websockets 8 (their pin) passes loop= to asyncio "
          "(removed in Python 3.10); wsproto runs", python=">=3.10", ws=("websockets",),
          instead=(("ws", "wsproto"),)),
    Limit("uvicorn", "<0.17",
          "uvicorn < 0.17, httptools: their httptools pins (< 0.4) do not build on Python 3.11+; h11 runs",
          python=">=3.11", http=("httptools",), instead=(("http", "h11"),)),
)


def pins(server: str, version: str, python: str, extra: Sequence[str] = ()) -> List[str]:
    """The requirements :data:`PINS` adds for ``server==version`` on ``python`` with ``extra``."""
    names = [_name(e) for e in extra]
    v, py = Version(version), Version(python)
    return [pin.requirement for pin in PINS if pin.applies(server, v, py, names)]


def _name(requirement: str) -> str:
    """``"h2<4.3"`` -> ``"h2"``: an extra requirement counts by its distribution name."""
    for index, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:index].strip()
    return requirement


def installs_without_deps(server: str, version: str) -> bool:
    """True for releases installed with ``--no-deps`` (``ServerReleases.without_deps``)."""
    known = SERVERS.get(server)
    return known is not None and bool(known.without_deps) and Version(version) in _spec(known.without_deps)


def limit_for(server: str, version: str, python: Optional[str], http: str = "", ws: str = "",
              worker: str = "") -> Optional[Limit]:
    """The first limit that keeps ``server==version`` from running there, or None."""
    for limit in LIMITS:
        if limit.applies(server, version, python, http, ws, worker):
            return limit
    return None
