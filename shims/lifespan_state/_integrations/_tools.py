"""What the project's tools need to know about one integration, as data (``Integration`` fields).

``tools/field.py`` (docs/field.md), ``tools/patches.py`` (the upstream patch series in
``patches/<name>/``), ``tools/bench`` (BENCHMARKS.md) and ``tools/soak.py`` iterate the descriptors
and read these records; none of them names a server. Nothing here is used at run time: the records
are plain data, and a reference to code (``Soak.serve``) is a ``"module:attribute"`` string
resolved by the tool that runs it.

Releases written as a word rather than a version (``"last_stateless"``, ``"buggy"``,
``"reference"``) are the named releases of ``tools.releases.SERVERS[name]``; ``"newest"`` is the
descriptor's ``newest_tested``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

__all__ = [
    "AppVariants",
    "Bench",
    "BenchArm",
    "BenchComparison",
    "BenchRow",
    "Field",
    "FieldArm",
    "PatchSeries",
    "Patches",
    "Soak",
    "Startup",
    "UpstreamTests",
]


@dataclass(frozen=True)
class FieldArm:
    """One more column of docs/field.md run by the integration's code: the same code under another
    distribution, behind another front end, or with another client or protocol stack.

    ``key`` is the column's key and its label's first word (``tools/field.py --check`` reads it
    back); ``{release}`` in ``label`` is the arm's release, ``{base}`` the integration's column.
    """

    key: str
    label: str
    #: ``lifespan-state check`` arguments naming what is checked (instead of ``--server NAME`` /
    #: ``--harness KEY``); ``--json --shim both`` are added.
    check: Tuple[str, ...]
    #: The distribution installed instead of the integration's (a fork) and its release; empty:
    #: the integration's, at the column's release.
    distribution: str = ""
    release: str = ""
    #: The records' server when the check names it otherwise (``--name``); empty: the integration.
    server: str = ""
    #: More requirements of its environment (pinned).
    extra: Tuple[str, ...] = ()
    #: A harness arm's HTTP client instead of the page's httpx (pinned).
    client: str = ""
    #: What the page says about the column, after what it ran.
    note: str = ""


@dataclass(frozen=True)
class Field:
    """A column of docs/field.md: the release checked natively and with the shim."""

    #: The release the page checks; empty: the descriptor's ``newest_tested``.
    release: str = ""
    #: The column's heading (``{name}``, ``{release}`` filled in).
    label: str = "{name} {release}"
    #: Columns of its own code run another way, after the integration's column.
    arms: Tuple[FieldArm, ...] = ()
    #: What the page says about the column, after what it ran (e.g. what the checks mean there).
    note: str = ""


# -- patches/<name>/ ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamTests:
    """A release's own test suite, run on the patched tree by ``tools.patches prove`` (when the
    release's sdist ships it) and ``tools.patches git-am --pytest``."""

    python: str
    #: Requirements at the versions of the release's time.
    requirements: Tuple[str, ...]
    #: Tests that fail on the pristine release here as well, deselected (the descriptor says why).
    known_failures: Tuple[str, ...] = ()
    #: What ``prove`` hands pytest: the suite the sdist ships.
    args: Tuple[str, ...] = ("tests",)


@dataclass(frozen=True)
class PatchSeries:
    """One series, ``patches/<name>/<release>/NNNN-*.patch``, and how its proof runs."""

    release: str
    #: The Python the proof runs on (the release's era).
    python: str
    #: What the release alone must fail (the reason the series exists), per docs/CONFORMANCE.md.
    native_fails: Tuple[str, ...]
    #: ``lifespan-state check`` options, one tuple per configuration to prove.
    configs: Tuple[Tuple[str, ...], ...] = ((),)
    #: Extra requirements of those configurations (``tools.envs.EnvSpec.extra``).
    extra: Tuple[str, ...] = ()
    #: What the series fixes, in one line (README table, reports).
    summary: str = ""
    #: Part of the default (fast) test run.
    default: bool = False
    #: Check runs of an app variant (:class:`AppVariants`): each is ``(options, native_fails)``.
    api_configs: Tuple[Tuple[Tuple[Tuple[str, str], ...], Tuple[str, ...]], ...] = ()
    #: The upstream git tag of the release (``git-am``); empty: the release string itself.
    tag: str = ""
    tests: Optional[UpstreamTests] = None


@dataclass(frozen=True)
class AppVariants:
    """The apps of ``PatchSeries.api_configs``, served by ``lifespan-state check --command``.

    ``command`` is the kit's template (``{python}``, ``{host}``, ``{port}``) with ``{app}`` and
    the configuration's option names as further placeholders; ``apps`` maps an ``app`` option to
    its import expression (option placeholders allowed). The app modules are the test apps the
    kit serves (``tests/scripts/``).
    """

    command: str
    apps: Mapping[str, str]
    #: Option values of a configuration that does not name them.
    defaults: Mapping[str, str]


@dataclass(frozen=True)
class Patches:
    """The integration's upstream patch series (``patches/<name>/``) and what proving them needs."""

    series: Tuple[PatchSeries, ...]
    #: The upstream changelog a series adds its line to: a file name prefix (``CHANGELOG``) or a
    #: path; empty when the project keeps no changelog file.
    changelog: str = "CHANGELOG"
    #: The package's compiled extension module when a release cannot be built from its sdist here:
    #: the proof installs the release's wheel and puts the patched Python files over the installed
    #: ones (a series may then change Python files only). Empty: built from the patched sdist.
    compiled: str = ""
    #: Extras of the patched tree's editable install for the upstream suite (``"[trio]"``).
    test_extras: str = ""
    variants: Optional[AppVariants] = None


# -- tools/bench ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchArm:
    """One server process of an end-to-end row: a release, with or without the shim."""

    release: str
    shim: bool


@dataclass(frozen=True)
class BenchRow:
    """An end-to-end row: ``release`` with the shim off against the same with it on.

    ``mode`` is what the shim does there (``native``: the row checks that it does nothing).
    """

    release: str
    #: The server's HTTP implementation (``--http``) or the protocol the load speaks (h1, h2).
    protocol: str
    keys: int
    mode: str
    #: Part of ``--quick``.
    quick: bool = False
    #: False where the shim's on arm puts nothing in the request path, so the per-scope cost
    #: predicts nothing for the row.
    per_request: bool = True


@dataclass(frozen=True)
class BenchComparison:
    """An end-to-end row comparing two arms of different releases (``kind``: native-cost, cross)."""

    kind: str
    protocol: str
    keys: int
    base: BenchArm
    cand: BenchArm
    #: What the shim does on ``cand``'s release.
    mode: str


@dataclass(frozen=True)
class Startup:
    """The activation section's in-server probe: the server's own start-up up to the app import."""

    #: What the server has imported by the time it imports the app module.
    modules: str
    #: How it gets there (Python code ending in ``import benchapp``).
    code: str
    #: Extras of a second environment holding Debian 12's wrapt (much lighter to import than
    #: wrapt 2.x); None: only the newest wrapt is measured.
    debian_wrapt: Optional[Tuple[str, ...]] = None


@dataclass(frozen=True)
class Bench:
    """What ``python -m tools.bench`` measures on this server and how it starts it."""

    #: One process serving ``benchapp:app``: words with ``{python}``, ``{host}``, ``{port}``,
    #: ``{protocol}``; the word ``{release_options}`` becomes ``options_since``'s options.
    command: str
    #: The fast extras production installs use with the server.
    extras: Tuple[str, ...] = ()
    #: ``(first release, option)``: the option is given to this release and later ones.
    options_since: Tuple[Tuple[str, str], ...] = ()
    rows: Tuple[BenchRow, ...] = ()
    comparisons: Tuple[BenchComparison, ...] = ()
    #: ``(release, protocol)`` of the control row (two identical servers without the shim: the
    #: machine's noise floor for this server), after the others; None: no control row.
    control: Optional[Tuple[str, str]] = None
    startup: Optional[Startup] = None
    #: The ``--http`` of the memory section's runs; empty: the server is not part of it.
    memory: str = ""
    #: BENCHMARKS.md compares every server's worst row with this server's.
    yardstick: bool = False
    #: The per-scope section's *native copy* is this server's own scope construction from this
    #: (named) release on.
    native_copy: str = ""
    #: The per-scope section's five-argument call is how this server calls the app.
    five_args: bool = False
    #: What BENCHMARKS.md's row legend says about this server's rows, and where it stands there
    #: among the servers' notes (lower first).
    note: str = ""
    note_order: int = 0


@dataclass(frozen=True)
class Soak:
    """How ``tools/soak.py`` serves its probe app on this server."""

    #: ``(app, port, keep_alive_seconds) -> None``, serving until SIGTERM/SIGINT and running the
    #: lifespan shutdown on either; it runs in the release's environment.
    serve: str
    #: The load client mixes HTTP/2 connections in (cleartext, prior knowledge).
    http2: bool = False
    #: The default soak (no ``--server``) runs the server's "soaked" release (``tools.releases``).
    default: bool = True
