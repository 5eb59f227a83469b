"""What one integration (a server or a test harness) tells the rest of the tree, as data.

An integration is one place: ``lifespan_state/_integrations/<name>/``, or a module of another
distribution named by an entry point of the ``lifespan_state.integrations`` group. Its
``INTEGRATION`` is an :class:`Integration`: in this package, built from the folder's
``integration.toml`` (``_data``: its tables and keys are these records' fields), in another
distribution written in Python. Its hook code (a :class:`~lifespan_state._shim.Shim` subclass and
the wrappers) lives beside it and is imported only when the server is. The registry, the
bootstrap, the launcher, ``status``, the check kit and the tools under ``tools/`` read these
records; none of them names a server.

References to code (``hooks``, the probes, the kit's drivers) are strings, ``"module:attribute"``;
a module starting with ``.`` is relative to the package of the descriptor. They are resolved when
they are needed, so reading a descriptor imports no server and no hook code.

docs/MAINTAINERS.md ("Adding an integration") walks through every field.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, FrozenSet, Literal, Mapping, Optional, Tuple

if TYPE_CHECKING:
    from .._versions import ServerSupport
    from ._matrix import Limit, Matrix, NamedReleases, Pin
    from ._tools import Bench, Field, Patches, Soak

__all__ = ["CopyProbe", "HarnessKit", "Integration", "Launch", "Probes", "resolve"]

Mode = Literal["add", "fix", "native"]
#: (first release, mode, why): the releases from this one to the next range's first get ``mode``.
Range = Tuple[str, Mode, str]


def resolve(reference: str, package: str) -> Any:
    """The object named by ``"module:attribute"`` (``.module`` relative to ``package``)."""
    module_name, _, attribute = reference.partition(":")
    module: Any = importlib.import_module(module_name, package or None)
    target = module
    for part in attribute.split(".") if attribute else ():
        target = getattr(target, part)
    return target


@dataclass(frozen=True)
class CopyProbe:
    """A probe of the request path's code that overrules the table between "fix" and "native".

    ``probe`` names a function returning True (each request gets a copy of the live state),
    False (it does not) or None (the code moved: the table's mode stands). ``native`` and ``fix``
    are the reasons given when the code overrules the table; ``{version}`` is the release read.
    """

    probe: str
    native: str
    fix: str


@dataclass(frozen=True)
class Probes:
    """The decision pipeline's overrides, declared (``lifespan_state._shim.decide``).

    The table's range gives the mode; then ``has_state`` (does the code in this process have
    lifespan state at all?) may turn "add" into "fix" and back (a vendored or patched copy), and
    ``copies`` may turn "fix" into "native" and back. Beyond the newest tested release the probes
    decide alone. ``without_state`` says what a build without state is: "add" (the shim adds it)
    or "unsupported" (adding it is beyond a Python wrap: the release is refused).
    """

    #: By convention the hook code's ``has_state``.
    has_state: str = "._hooks:has_state"
    copies: Optional[CopyProbe] = None
    without_state: Literal["add", "unsupported"] = "add"


@dataclass(frozen=True)
class Launch:
    """How the check kit starts the server and what a run of it speaks (docs/CONFORMANCE.md).

    ``command`` is a template (``{python} -m NAME {app} --host {host} --port {port}``); option values,
    ``tls`` and ``transport_args`` are fragments appended to it. ``capabilities`` names a function
    (run in the checked environment, in a subprocess) returning the release's ``choices`` and
    ``defaults`` of ``options``; without one, the options are fixed and the version is the
    distribution's. ``driver`` names the in-process S9 driver (two servers on one app at once).
    """

    command: str
    transports: FrozenSet[str] = frozenset({"h1", "ws"})
    tls: str = ""
    tls_transports: FrozenSet[str] = frozenset()
    transport_args: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    capabilities: str = ""
    #: Config overrides for the S8 run "with lifespan disabled"; None: the server cannot.
    lifespan_off: Optional[Mapping[str, str]] = None
    #: Config overrides for the S8 run whose app raises on the lifespan scope.
    lifespan_raise: Mapping[str, str] = field(default_factory=dict)
    driver: str = ""
    #: Extra environment of the server process (placeholders allowed).
    env: Mapping[str, str] = field(default_factory=dict)
    #: The signal of a graceful stop (the one that runs ``lifespan.shutdown``), by name.
    stop_signal: str = "SIGINT"
    #: What the server lacks, said in the checks it makes fail (e.g. no lifespan protocol).
    lacks: str = ""
    #: option -> value -> (plain, TLS) transports a run with that value speaks besides the
    #: recipe's own (an HTTP/2 stack behind an ``--http`` choice).
    option_transports: Mapping[str, Mapping[str, Tuple[FrozenSet[str], FrozenSet[str]]]] = field(
        default_factory=dict)


@dataclass(frozen=True)
class HarnessKit:
    """How the check kit runs the probe in-process behind this harness (``--harness KEY``).

    ``make`` names ``app -> harness object`` (one object may serve several runs); ``open`` names
    ``(harness, portal, lifespan) -> context manager`` of one run whose client has ``get(target)``
    (an httpx-like response; ``portal`` is an anyio blocking portal for async clients, see
    ``lifespan_state.check._portal``). A harness with a WebSocket client has
    ``websocket_connect(path)`` (Starlette's ``TestClient``'s API) on its harness object or on
    the run's client. The run's client must still take requests once the ``open`` block has
    ended (S13: a test using the harness after its run; raising then is an answer too).
    """

    label: str
    #: The ``--harness`` name: "" is the integration's name (for ``harness``; each of
    #: ``more_harnesses`` names its own). See :attr:`Integration.harnesses`.
    key: str = ""
    #: By convention in the integration's ``_kit.py``.
    make: str = "._kit:make"
    open: str = "._kit:open"
    #: S8 runs an app raising on the lifespan (the others raise it: no lifespan).
    raising: bool = False
    #: Why there is no WebSocket client ("" when the harness has one).
    no_websocket: str = ""
    #: The HTTP clients its ``open`` can use (distributions, preferred first; any one installed will
    #: do); () when the harness brings its own client.
    clients: Tuple[str, ...] = ("httpx2", "httpx")


@dataclass(frozen=True)
class Integration:
    """One server or harness; see the module docstring and docs/MAINTAINERS.md."""

    #: The distribution name: the key of ``SUPPORTED`` and of ``lifespan_state.status()``.
    name: str
    kind: Literal["server", "harness"]
    #: Imports that mean "this server is in use" and load the hook code (the triggers); the
    #: first one's top-level package is where a ``__version__`` would be.
    imports: Tuple[str, ...]
    #: What tables and pages call it (default: ``name``), e.g. "starlette `TestClient`".
    title: str = ""
    #: Supported releases, oldest first; the last range is open-ended. Empty: the kit may launch
    #: it, the shim does nothing with it (a server without a lifespan protocol).
    ranges: Tuple[Range, ...] = ()
    newest_tested: str = ""
    #: Releases a user is most likely pinned to; the README and the CI subset name them.
    notable: Tuple[str, ...] = ()
    #: The :class:`~lifespan_state._shim.Shim` instance; by convention ``SHIM`` of ``_hooks.py``
    #: beside the descriptor (read only where there are ``ranges``).
    hooks: str = "._hooks:SHIM"
    probes: Probes = Probes()
    #: Module -> what is wrapped when it is imported (wraps made on a later import): ``status()``
    #: says it before the hook code is loaded, and the shim's ``deferred()`` has exactly these keys.
    later: Mapping[str, str] = field(default_factory=dict)
    #: Executables that start this server (the launcher says "not installed" for a missing one).
    commands: Tuple[str, ...] = ()
    launch: Optional[Launch] = None
    harness: Optional[HarnessKit] = None
    #: More ``--harness`` entries of the same distribution (another client class it ships).
    more_harnesses: Tuple[HarnessKit, ...] = ()
    # What the tools under tools/ need (``_tools``): docs/field.md's column, the upstream patch
    # series, the benchmarks and the soak. None: the tool leaves the integration out.
    field_page: Optional[Field] = None
    patches: Optional[Patches] = None
    bench: Optional[Bench] = None
    soak: Optional[Soak] = None
    #: Where the integration stands in generated tables and pages (lower first).
    rank: int = 1000
    # What the tools know about the server's releases (``_matrix.py``); the runtime never reads it.
    #: How the compatibility matrix plans its cells (None: the matrix does not run it).
    matrix: Optional[Matrix] = None
    #: The releases tools and tests name on purpose (``tools.releases.SERVERS``).
    releases: Optional[NamedReleases] = None
    #: What old releases need installed next to them, in the order an environment lists them.
    pins: Tuple[Pin, ...] = ()
    #: Where releases cannot run at all, natively or with the shim.
    limits: Tuple[Limit, ...] = ()
    #: The package the relative references are resolved in; the loader fills it in (a descriptor
    #: in Python may say ``package=__name__``).
    package: str = ""

    @property
    def label(self) -> str:
        """``title``, else the distribution name."""
        return self.title or self.name

    @property
    def module(self) -> str:
        """The top-level import package (where a ``__version__`` would be)."""
        return self.imports[0].partition(".")[0]

    @property
    def supported(self) -> bool:
        """True when the shim acts on this integration (it has ranges and hook code)."""
        return bool(self.ranges and self.hooks)

    @property
    def harnesses(self) -> Tuple[Tuple[str, HarnessKit], ...]:
        """Its ``--harness`` keys with their kits, ``harness`` first (its key defaults to the name)."""
        first = ((self.harness.key or self.name, self.harness),) if self.harness is not None else ()
        return first + tuple((kit.key, kit) for kit in self.more_harnesses)

    def resolve(self, reference: str) -> Any:
        """The object a reference of this descriptor names (``.module`` relative to ``package``)."""
        if reference.startswith(".") and not self.package:
            raise ValueError(f"integration {self.name!r}: the relative reference {reference!r} needs "
                             "package=__name__ in its descriptor")
        return resolve(reference, self.package)

    @property
    def hooks_module(self) -> str:
        """The absolute name of the module holding the hook code."""
        module = self.hooks.partition(":")[0]
        return importlib.util.resolve_name(module, self.package) if module.startswith(".") else module

    def support(self, reference: str = "") -> ServerSupport:
        """The runtime table's row of this integration (``lifespan_state.SUPPORTED``);
        ``reference`` names the descriptor (default: ``INTEGRATION`` of its package)."""
        from .._versions import row

        return row(self.name, self.newest_tested, self.notable, *self.ranges,
                   imports=self.imports, integration=reference or f"{self.package}:INTEGRATION")
