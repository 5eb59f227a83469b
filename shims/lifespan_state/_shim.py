"""The shim contract as code: one base class, one subclass per integration's hook code.

An integration (``_integrations/<name>/``, docs/MAINTAINERS.md) declares its facts in its
descriptor (:class:`~lifespan_state._integrations._descriptor.Integration`): the supported ranges,
the probes of the decision pipeline, the imports that load it. Its hook code is a subclass of
:class:`Shim` and a module-level instance, which supplies only *where* to wrap::

    class ToyShim(Shim):
        integration = INTEGRATION               # the descriptor (``from . import INTEGRATION``)
        late = RunMarkers(gates=(...), frames={...})   # optional, see _late.py

        def targets(self, decision: Decision) -> Sequence[Target]:
            from toyserver import lifespan  # import what you wrap here, not at the top
            return [(lifespan.Lifespan, "__init__", _lifespan_init)]
        def deferred(self) -> Mapping[str, Deferred]:   # optional; keys: the descriptor's ``later``
            return {"toyserver.workers": Deferred("Worker.run", self._worker_targets)}

    SHIM = ToyShim()

* ``targets(decision)``: the ``(owner, attribute, wrapper)`` wraps to install *now*
  (``decision.mode`` is "add" or "fix"; "native" installs nothing and never calls this).
  ``wrapper`` is a wrapt wrapper ``(wrapped, instance, args, kwargs)``. All of them are installed
  through one :class:`~lifespan_state._patching.PatchSet`, all or nothing, and restored exactly by
  ``unpatch()``. Release facts your wrappers need (looked up once, never per call) are best
  computed here.
* ``deferred()`` (optional): submodule -> :class:`Deferred`, for wraps whose owner lives in a
  module the user may import later (or never). Modules already imported are wrapped with
  ``targets()``; the others when they are imported (post-import hooks that check the active flag,
  so ``unpatch()`` turns them into no-ops). ``status()`` lists the pending ones.
* ``late`` (optional): the frames that prove a run already started
  (:class:`~lifespan_state._late.RunMarkers`): the base warns once with
  :class:`~lifespan_state.ActivationTooLateWarning` when activation came too late.
* ``details()`` (optional): extra ``status()`` entries (e.g. per-worker decisions).

Wrappers run on the server's hot path: decide everything at patch time, read :attr:`Shim.active`
if a wrapper someone kept after ``unpatch()`` must pass straight through, and let the server's own
exceptions through untouched.

The base owns the rest, identically for every integration: the decision (:func:`decide`, one
pipeline: the table's range, then the descriptor's probes — no subclass decides), the active flag,
idempotence (a second ``patch()`` or ``unpatch()`` logs and does nothing), post-import hooks for
deferred wraps, exact restore, the fail-safe logging (a deferred wrap that fails takes every wrap
out again and says so once — never a half-patched server, never an exception inside the user's
import), and the one meaning of :meth:`Shim.is_patched`: this shim is in charge of its server —
wraps installed, pending on a deferred import, or none needed (native) — from a successful
``patch()`` until ``unpatch()``.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Dict, List, Literal, Mapping, Optional, Sequence, Set, Tuple

from . import _hooks, _log
from ._errors import UnsupportedServerError
from ._integrations._descriptor import CopyProbe, Integration
from ._late import RunMarkers, warn_if_too_late
from ._patching import PatchSet, Wrapper
from ._versions import SUPPORTED, installed_by, is_newer_than_tested, mode_for, running_version, unsupported

__all__ = ["Decision", "Deferred", "Mode", "RunMarkers", "Shim", "Target", "decide"]

#: How a shim treats a release. "add": the release has no lifespan state, the shim adds it.
#: "fix": the release has state but shares one copy between requests (or serves a stale one),
#: the shim gives each request its own. "native": the release does it right; nothing is wrapped.
Mode = Literal["add", "fix", "native"]

#: One wrap: ``setattr(owner, attribute, FunctionWrapper(getattr(owner, attribute), wrapper))``.
Target = Tuple[Any, str, Wrapper]


@dataclass(frozen=True)
class Decision:
    """What a shim does with the release in this process, and why."""

    mode: Mode
    why: str
    #: The release as read (metadata, else ``__version__``); None when unreadable.
    version: Optional[str]


@dataclass(frozen=True)
class Deferred:
    """Wraps made when a submodule is imported (or at ``patch()`` if it already is)."""

    #: What will be wrapped, as ``status()`` tells it before the import ("worker_serve").
    wraps: str
    #: The wraps to install then; may return none when the probes find nothing to fix.
    targets: Callable[[Decision], Sequence[Target]]


def decide(integration: Integration) -> Decision:
    """The decision for the imported server of ``integration``; raises when it is unsupported.

    One pipeline for every integration, declared on its descriptor (``Probes``): the table's
    range gives the mode; the ``has_state`` probe (does the code in this process have lifespan
    state?) decides beyond the tested range and wins where the metadata and the code disagree
    (vendored or patched copies); then the ``copies`` probe may turn "fix" into "native" and
    back. A build without state is refused where the descriptor says adding it is beyond a wrap.
    """
    probes = integration.probes
    decision = _by_table(integration.name, bool(integration.resolve(probes.has_state)()))
    if decision.mode == "add" and probes.without_state == "unsupported":
        raise UnsupportedServerError(
            integration.name, f"{decision.version or 'of unknown version'} without lifespan state",
            SUPPORTED[integration.name].supported_text(),
        )  # fmt: skip
    if probes.copies is not None:
        decision = _confirm(probes.copies, integration, decision)
    owner = installed_by(integration.name, integration.module)
    if owner is not None:
        why = f"{integration.module}'s code installed by {owner}: {decision.why}"
        decision = Decision(decision.mode, why, decision.version)
    return decision


def _by_table(server: str, native: bool) -> Decision:
    """The table's decision, checked against the ``has_state`` probe (``native``)."""
    version, source = running_version(server)
    if version is None:
        # Without a version, a release with state might be a buggy one: fixing a correct server
        # is harmless (same semantics, one extra copy), missing a per-connection copy is not.
        return Decision("fix" if native else "add", f"version unknown ({source}); probed", None)
    text = str(version)
    entry = mode_for(server, version)
    if entry is None:
        raise unsupported(server, version)
    if is_newer_than_tested(server, version):
        if native:
            mode = SUPPORTED[server].ranges[-1].mode
            return Decision(mode, f"{version} is newer than tested; the probe found lifespan state", text)
        return Decision("add", f"{version} is newer than tested; the probe found no lifespan state", text)
    if entry.mode != "add" and not native:
        return Decision("add", f"metadata says {version} but the code has no lifespan state", text)
    if entry.mode == "add" and native:
        return Decision("fix", f"metadata says {version} but the code has lifespan state", text)
    return Decision(entry.mode, entry.why, text)


def _confirm(probe: CopyProbe, integration: Integration, decision: Decision) -> Decision:
    """The ``copies`` probe's word on a decision: the code wins where it and the table disagree
    (a distribution's patched build, a vendored copy); None (cannot tell) keeps the table's."""
    if decision.mode == "add":
        return decision  # nothing to copy: no state at all
    correct = integration.resolve(probe.probe)()
    version = decision.version or "this release"
    if correct and decision.mode == "fix":
        return Decision("native", probe.native.format(version=version), decision.version)
    if correct is False and decision.mode == "native":
        return Decision("fix", probe.fix.format(version=version), decision.version)
    return decision


class Shim:
    """One integration's hook code. Subclasses say where to wrap; see the module docstring."""

    #: The integration's descriptor: its name, ranges and probes.
    integration: ClassVar[Integration]
    #: Frames that prove a run already started, for the too-late warning (None: never warn).
    late: ClassVar[Optional[RunMarkers]] = None

    def __init__(self) -> None:
        self._patches = PatchSet()
        self._decision: Optional[Decision] = None
        self._active = False
        #: Deferred modules whose wraps are in ``_patches`` (or that needed none).
        self._applied: Set[str] = set()
        #: Modules we registered a post-import hook for (hooks cannot be unregistered).
        self._hooked: Set[str] = set()
        #: Why the last deferred wrap failed, for ``status()``.
        self._failure = ""
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ what a subclass supplies

    def targets(self, decision: Decision) -> Sequence[Target]:
        """The wraps to install now for ``decision`` ("add" or "fix")."""
        raise NotImplementedError

    def deferred(self) -> Mapping[str, Deferred]:
        """Submodule -> the wraps to make when it is imported. None by default."""
        return {}

    def details(self) -> Dict[str, Any]:
        """Extra ``status()`` entries of this shim."""
        return {}

    def reset(self) -> None:
        """Forget per-patch facts of the subclass (called whenever the wraps are taken out)."""

    # ------------------------------------------------------------------ the contract

    @property
    def name(self) -> str:
        """The distribution name: the ``SUPPORTED`` key and the ``status()`` key."""
        return self.integration.name

    @property
    def active(self) -> bool:
        """True from a successful ``patch()`` until ``unpatch()`` (wrappers may read it)."""
        return self._active

    @property
    def decision(self) -> Optional[Decision]:
        return self._decision

    def decide(self) -> Decision:
        """The decision for the release in this process; raises when it is unsupported."""
        return decide(self.integration)

    def patch(self) -> None:
        """Install the shim for the imported server: all or nothing, raises when unsupported."""
        with self._lock:
            if self._active:
                _log.log(_log.DEBUG, "lifespan-state-shim: %s is already patched", self.name)
                return
            decision = self.decide()
            self._decision = decision
            self._failure = ""
            if decision.mode == "native":
                self._active = True
                _log.log(
                    _log.DEBUG,
                    "lifespan-state-shim: %s %s is native (%s); nothing wrapped",
                    self.name, decision.version, decision.why,
                )  # fmt: skip
                return
            deferred = self.deferred()
            try:
                self._active = True
                targets: List[Target] = list(self.targets(decision))
                ready = [name for name in deferred if name in sys.modules]
                for name in ready:
                    targets.extend(deferred[name].targets(decision))
                self._patches.apply(targets)
                self._applied.update(ready)
            except BaseException:
                self._take_out()
                self._decision = None
                raise
            for name in deferred:
                if name not in self._applied and name not in self._hooked:
                    self._hooked.add(name)
                    _hooks.when_imported(name, self._on_deferred_import)
            _log.log(
                _log.DEBUG,
                "lifespan-state-shim: %s %s patched in %s mode (%s)",
                self.name, decision.version, decision.mode, decision.why,
            )  # fmt: skip
        # A run already past our hook points is not reached by them: tell the user, once.
        warn_if_too_late(self.name, self.late)

    def unpatch(self) -> None:
        """Remove every wrap of ours; pending post-import hooks turn into no-ops."""
        with self._lock:
            if not self._active and not self._patches:
                _log.log(_log.DEBUG, "lifespan-state-shim: %s is not patched; nothing to undo", self.name)
            self._take_out()
            self._decision = None
            self._failure = ""

    def is_patched(self) -> bool:
        """True while this shim is in charge of its server (see the module docstring)."""
        return self._active

    def status(self) -> Dict[str, Any]:
        """version, mode, reason, what is wrapped now and what will be wrapped on which import."""
        decision = self._decision
        pending: Dict[str, str] = {}
        if self._active and decision is not None and decision.mode != "native":
            pending = {
                name: entry.wraps for name, entry in self.deferred().items() if name not in self._applied
            }
        info: Dict[str, Any] = {
            "mode": decision.mode if decision else None,
            "reason": self._failure or (decision.why if decision else ""),
            "version": decision.version if decision else None,
            "patched": list(self._patches.labels),
            "pending": pending,
        }
        owner = installed_by(self.name, self.integration.module) if decision is not None else None
        if owner is not None:
            info["installed_by"] = owner
        info.update(self.details())
        return info

    # ------------------------------------------------------------------ the machinery

    def _take_out(self) -> None:
        self._active = False
        self._patches.restore()
        self._applied.clear()
        self.reset()

    def _on_deferred_import(self, module: Any) -> None:
        # Runs inside the user's import of a submodule: it must never raise. No lock here: the
        # import lock of that module is held, and a patch() in another thread that imports it
        # would wait for it while holding ours.
        name = getattr(module, "__name__", "")
        self._hooked.discard(name)  # a hook runs once: a later patch() may need a new one
        decision = self._decision
        if not self._active or decision is None or name in self._applied:
            return
        try:
            entry = self.deferred().get(name)
            if entry is None:
                return
            self._patches.apply(list(entry.targets(decision)))
            self._applied.add(name)
        except Exception as exc:
            # Never a half-patched server: take every wrap out again, and say so once.
            self._take_out()
            self._failure = f"patching {name} failed: {type(exc).__name__}: {exc}"
            _log.log(
                _log.WARNING,
                "lifespan-state-shim: patching %s failed (%s: %s); %s was left unchanged. "
                "Please report this with the output of `lifespan-state status`.",
                name, type(exc).__name__, exc, self.name,
            )  # fmt: skip
