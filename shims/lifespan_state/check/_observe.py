"""What one configuration runs (:class:`Plan`) and what its runs observed (:class:`Run`,
:class:`Observations`): the engine fills them in, the checks' judges read them (``_spec``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ._recipes import ConfigError, Recipe
from ._transports import TRANSPORTS, NotApplicable, Transport

__all__ = ["CHECK_EXTRA", "Json", "Observations", "Plan", "Run", "describe", "make_plan"]

Json = Dict[str, Any]
#: What installs every client library of the kit (and wsproto, a WebSocket library servers use).
CHECK_EXTRA = "pip install 'lifespan-state-shim[check]'"


def describe(exc: BaseException) -> str:
    """An exception as the checks' details say it: ``Type: message``."""
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Run:
    """Observations of one server run (or one run of a harness), step by step."""

    steps: Dict[str, Any] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)
    not_applicable: Dict[str, str] = field(default_factory=dict)
    start_error: str = ""
    exit_code: Optional[int] = None
    log_tail: str = ""
    #: What each ``lifespan.shutdown`` of the run saw (the probe's report lines, S10).
    shutdown: List[Json] = field(default_factory=list)

    def step(self, name: str, action: Callable[[], Any]) -> None:
        """Observe ``action()`` as step ``name`` (its exception, if any, is the observation)."""
        if self.start_error:
            return
        try:
            self.steps[name] = action()
        except NotApplicable as exc:
            self.not_applicable[name] = str(exc)
        except Exception as exc:
            self.errors[name] = describe(exc)

    def missing(self, *names: str) -> Optional[str]:
        """Why the steps ``names`` have no observation, or None when they all have one."""
        if self.start_error:
            return self.start_error
        for name in names:
            if name in self.errors:
                return f"{name}: {self.errors[name]}"
            if name not in self.steps:
                return f"{name}: not run"
        return None


@dataclass
class Plan:
    """What one configuration runs: its transports (client importable) and what is left out."""

    recipe: Recipe
    config: Dict[str, str]
    tls: bool
    shim_on: bool
    #: The ids of the checks to judge.
    selected: Sequence[str]
    transports: List[Transport]
    #: transport label -> why it is not checked here (no client library).
    left_out: Dict[str, str]
    #: The middleware arm: the probe wrapped by ``LifespanStateMiddleware``, no activation.
    middleware: bool = False

    @property
    def arm(self) -> str:
        """The record's ``shim``: ``"off"``, ``"on"`` or ``"middleware"``."""
        return "middleware" if self.middleware else "on" if self.shim_on else "off"

    @property
    def lifespan_on(self) -> bool:
        return self.config.get("lifespan", "auto") != "off"

    def able(self, kind: str) -> List[Tuple[Transport, Callable[..., Any]]]:
        """The transports that can do ``kind`` (a :class:`Transport` field), each with that callable."""
        return [(t, getattr(t, kind)) for t in self.transports if getattr(t, kind) is not None]


def make_plan(recipe: Recipe, config: Dict[str, str], tls: bool, shim_on: bool,
              selected: Sequence[str], middleware: bool = False) -> Plan:
    """The plan of one server configuration: every transport it speaks whose client is importable."""
    names = recipe.uses(config, tls)
    unknown = sorted(names - set(TRANSPORTS))
    if unknown:
        raise ConfigError(f"unknown transport {unknown[0]!r} (known: {', '.join(TRANSPORTS)})")
    used, left_out = [], {}
    for transport in (t for t in TRANSPORTS.values() if t.name in names):  # the registry's order
        if transport.tls and not tls:
            left_out[transport.label] = "needs TLS (--tls)"
        elif transport.available():
            used.append(transport)
        else:
            left_out[transport.label] = f"needs {', '.join(transport.needs)}: {CHECK_EXTRA}"
    return Plan(recipe, config, tls, shim_on, selected, used, left_out, middleware)


@dataclass
class Observations:
    """Everything one configuration's runs observed; what each check judges."""

    plan: Plan
    main: Run
    #: The runs without lifespan (lifespan off, an app raising on it), by label.
    s8: Dict[str, Run]
    #: The S9 driver's line (``{"error": why}`` when it could not run); None: no driver.
    s9: Optional[Json]
    #: The requests once the main run's lifespan had ended, through the same client (a harness);
    #: None where nothing can come after the run (a server: it serves nothing after its shutdown).
    after: Optional[Run] = None
