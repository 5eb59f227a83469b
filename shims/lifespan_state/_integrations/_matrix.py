"""What the tools know about one server's releases, as data: the descriptor's matrix facts.

An :class:`~lifespan_state._integrations._descriptor.Integration` of a server carries these:

* :class:`Matrix` — how ``tools/matrix.py`` plans the server's cells: which releases, on which
  Pythons, in which configurations, what each configuration needs installed, how the check kit is
  told to run it, and its cell in the CI subset;
* :class:`NamedReleases` — the releases the tools and tests name on purpose (Debian's, the last
  one without lifespan state, the buggy one, the native reference, the soaked one);
* :class:`Pin` — what an old release needs installed next to it to install and run on a newer
  Python (``tools/envs.py`` applies them to every environment it builds);
* :class:`Limit` — where a release cannot run at all, whatever the shim does (the matrix explains
  such cells with them, plans around them, and compat_matrix.md lists them).

The tools read them through the descriptors and never name a server. The runtime builds them
with a descriptor and never reads them: importing this module costs a few class definitions
(``packaging`` is imported by the methods that compare versions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, NamedTuple, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

__all__ = ["DEBIAN", "Config", "Distribution", "Limit", "Matrix", "NamedReleases", "Picks", "Pin"]


@dataclass(frozen=True)
class Distribution:
    """What a Linux distribution ships: the environment users of its packages run."""

    name: str
    python: str
    wrapt: str
    starlette: str


#: Debian 12 (bookworm): Python 3.11, python3-wrapt 1.14.1, python3-starlette 0.26.1. The servers'
#: own packages are each descriptor's ``NamedReleases.debian``.
DEBIAN = Distribution("Debian 12", python="3.11", wrapt="1.14.1", starlette="0.26.1")


class Config(NamedTuple):
    """One configuration of a cell: the labels of its HTTP and WebSocket implementations and its
    worker class. A server the kit runs by its recipe has no such options: the labels name what a
    run speaks, and ``tls`` among the parts of ``http`` (``"tls+h2"``) is the kit's ``--tls`` run."""

    http: str
    ws: str
    worker: str


@dataclass(frozen=True)
class Picks:
    """Which releases of the supported range (up to ``newest_tested``) get cells.

    ``every``: all of them. Otherwise the newest patch of every minor, plus the releases each
    other flag adds; together they must cover every code shape the hook code knows.
    """

    every: bool = False
    #: Every release the runtime table gives "fix" (a bug that lived in a release or two).
    fix_mode: bool = False
    #: The oldest release of the range.
    oldest: bool = False
    #: The oldest release of every minor.
    oldest_per_minor: bool = False
    #: Both sides of each boundary of the runtime table's ranges: the first release of a range
    #: and the newest one before it.
    mode_bounds: bool = False


#: The Pythons of the newest releases' "release" cells (rotated through).
NEWEST_ERA: Tuple[str, ...] = ("3.10", "3.11", "3.12", "3.13")


@dataclass(frozen=True)
class Matrix:
    """How the compatibility matrix (``tools/matrix.py``) plans a server's cells.

    Releases in the sweeps that the plan does not cover (outside the supported range, or not
    picked) are left out of them. Python versions are the matrix's (3.8 - 3.13); wrapt lines are
    its labels (``DEBIAN.wrapt``, ``"1.x"``, ``"2.x"``).
    """

    #: The configuration of every cell that is not a "config" cell.
    default: Config
    picks: Picks = Picks()
    #: The oldest Python any of the server's releases runs on, when every release states one (its
    #: Requires-Python): the plan runs nothing below it rather than record cannot-run cells.
    python_floor: str = ""
    #: Pythons contemporary with a release, for its one "release" cell: ``(bound, pythons)``, the
    #: first whose bound is above the release applies; :data:`NEWEST_ERA` above every bound. The
    #: plan rotates through them, so that every Python gets its share of releases.
    eras: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    newest_era: Tuple[str, ...] = NEWEST_ERA
    #: Representative releases run on every Python (cannot-run cells included): the "python" cells.
    python_sweep: Tuple[str, ...] = ()
    #: The "config" cells' configurations besides the default, each with the releases that have
    #: it (a specifier; "": all). A configuration a skipped :class:`Limit` covers is left out.
    configs: Tuple[Tuple[Config, str], ...] = ()
    #: ``(release, python)``: one release per code-shape family, run in every configuration.
    config_sweep: Tuple[Tuple[str, str], ...] = ()
    #: ``(release, python, wrapt line)``: the "wrapt" cells (every other cell runs wrapt 2.x).
    wrapt_sweep: Tuple[Tuple[str, str, str], ...] = ()
    #: ``(release, pythons)``: cells the CI subset needs that no sweep has (each of its releases
    #: must be in the matrix on at least two Pythons).
    ci_extra: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    #: The CI subset's one cell of the server: this release, on the newest Python it runs on. Empty:
    #: the full set instead (the oldest release, the last without state, the first with state and
    #: the newest, on two Pythons each).
    ci_representative: str = ""
    #: True: the kit runs the server by its launch recipe (``--server NAME``): the "config" cells
    #: are the default and the kit's TLS run (``http`` "tls+h2": ``--tls``, HTTP/2 by ALPN), and
    #: every cell installs the kit's HTTP/2 client. False: by the options ``--http``, ``--ws`` and
    #: ``--worker`` (the configuration's labels).
    by_recipe: bool = False
    #: option ("http", "ws", "worker") -> value -> requirements a configuration needs when the
    #: option's label is the value or has it as one of its ``+``-joined parts.
    option_extras: Mapping[str, Mapping[str, Tuple[str, ...]]] = field(default_factory=dict)
    #: ``(releases, requirement)``: what releases in the specifier need installed in every cell.
    release_extras: Tuple[Tuple[str, str], ...] = ()
    #: Distributions besides the usual ones (wrapt, the HTTP, WebSocket and loop libraries) whose
    #: installed versions the matrix records ("installed with it").
    reported: Tuple[str, ...] = ()
    #: Where this server's limits stand in compat_matrix.md's list of them (lower first).
    limits_rank: int = 1000


@dataclass(frozen=True)
class NamedReleases:
    """The releases of one server that a tool or test names on purpose (``tools.releases.SERVERS``).

    The supported ranges and the newest tested release are the descriptor's own fields.
    """

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
    #: the server's :class:`Pin` rows list what they need instead): a specifier, empty for none.
    without_deps: str = ""


def _spec(text: str) -> SpecifierSet:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(text)


@dataclass(frozen=True)
class Pin:
    """``requirement`` is installed with the releases in ``releases`` when ``extra`` (one of an
    environment's extra requirements, by name) is asked for — always when ``extra`` is empty — on
    Pythons in ``python``. ``required_on``: Pythons where the release needs it even unasked (a hard
    requirement of a release installed without its dependencies). An environment lists a server's
    pins in the order its descriptor does (the order is part of the environment's cache key)."""

    releases: str
    requirement: str
    why: str
    extra: str = ""
    python: str = ""
    required_on: Optional[str] = None

    def applies(self, version: Version, python: Version, extra: Sequence[str]) -> bool:
        if version not in _spec(self.releases) or python not in _spec(self.python):
            return False
        if not self.extra or self.extra in extra:
            return True
        return self.required_on is not None and python in _spec(self.required_on)


@dataclass(frozen=True)
class Limit:
    """A configuration a release cannot run in, natively or with the shim: releases in
    ``releases`` on Pythons in ``python`` with any of the named implementations (empty: any).
    ``text`` is what the matrix says about it (compat_matrix.md lists every limit)."""

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

    def applies(self, version: str, python: Optional[str], http: str = "", ws: str = "",
                worker: str = "") -> bool:
        """``python`` None: on every Python (a limit bound to some Pythons does not apply)."""
        from packaging.version import Version

        on_python = not self.python if python is None else Version(python) in _spec(self.python)
        return (
            Version(version) in _spec(self.releases)
            and on_python
            and all(not allowed or value in allowed
                    for value, allowed in ((http, self.http), (ws, self.ws), (worker, self.worker)))
        )
