"""Servers as launch recipes: a command template plus what the server supports.

A :class:`Recipe` is everything the check kit knows about one server while it checks it: the
command that starts it (``{python} -m NAME {app} --host {host} --port {port}``; the placeholders
are those of docs/CONFORMANCE.md), the transports it speaks (plain, and with TLS), its options
(each value a template fragment appended to the command), its S8 and S9 features, its environment
and stop signal. It is made from the ``launch`` of an integration's descriptor
(``lifespan_state._integrations``, :func:`recipe_of`).

:data:`RECIPES` holds the built-in recipes, by distribution name: one per integration that has a
``launch``, this package's and other distributions' (entry points), by rank. ``lifespan-state
check --command TEMPLATE`` makes a recipe from any command (:func:`custom_recipe`); when the
command runs a built-in server (``-m NAME`` or the ``NAME`` executable) it inherits that server's
transports and features, which ``--transport`` overrides. See docs/CONFORMANCE.md for what each
check needs.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Dict, FrozenSet, List, Optional, Tuple

from .._integrations._descriptor import Integration
from .._integrations._load import integrations
from ._runner import json_line

__all__ = [
    "PROBE_APP",
    "RECIPES",
    "Capabilities",
    "ConfigError",
    "LaunchContext",
    "Recipe",
    "custom_recipe",
    "expand",
    "recipe_of",
]

#: The probe app, as every server's command line names it.
PROBE_APP = "lifespan_state.check._probe:app"


class ConfigError(ValueError):
    """A configuration the installed server cannot run (unknown option or value)."""


@dataclass
class LaunchContext:
    """The facts of one server launch: the values of the template's placeholders."""

    host: str
    port: int
    workdir: str
    #: With TLS: the server's certificate chain and key, and the CA the clients trust.
    certfile: str = ""
    keyfile: str = ""
    ca_file: Optional[str] = None

    def values(self) -> Dict[str, str]:
        """``{python}`` is this interpreter: the checked environment's (``lifespan-state`` runs in it)."""
        return {"python": sys.executable, "app": PROBE_APP, "host": self.host, "port": str(self.port),
                "certfile": self.certfile, "keyfile": self.keyfile, "workdir": self.workdir}


def expand(template: str, values: Dict[str, str]) -> List[str]:
    """``template`` split like a shell would, each word's placeholders filled in."""
    try:
        return [word.format(**values) for word in shlex.split(template)]
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"command template {template!r}: unknown placeholder {exc} (known: "
                          f"{', '.join('{' + k + '}' for k in sorted(values))})") from None


@dataclass
class Capabilities:
    """What the installed release of a server offers (from a subprocess probe)."""

    version: Optional[str]
    choices: Dict[str, List[str]]
    defaults: Dict[str, str]
    error: str = ""


@dataclass
class Recipe:
    """How to launch one server and what it supports; see the module docstring."""

    name: str
    command: str
    #: Transports of a plain run (``h1`` is always used; see ``_transports.TRANSPORTS``).
    transports: FrozenSet[str] = frozenset({"h1", "ws"})
    #: With TLS: the fragment that turns it on, and the transports it then speaks.
    tls: str = ""
    tls_transports: FrozenSet[str] = frozenset()
    #: transport -> fragment the server needs to offer it (e.g. a separate QUIC binding).
    transport_args: Dict[str, str] = field(default_factory=dict)
    #: option -> value -> fragment (appended to the command).
    options: Dict[str, Dict[str, str]] = field(default_factory=dict)
    #: Its options come from its integration's capabilities probe (``_driver capabilities NAME``,
    #: run in the checked environment); False: the distribution's version (metadata) only.
    probe: bool = False
    #: Config overrides for the S8 run "with lifespan disabled"; None: the server cannot.
    lifespan_off: Optional[Dict[str, str]] = None
    #: Config overrides for the S8 run whose app raises on the lifespan scope.
    lifespan_raise: Dict[str, str] = field(default_factory=dict)
    #: Its integration has an in-process S9 driver (``_driver NAME``); for the others S9 says so.
    driver: bool = False
    #: Extra environment of the server process (placeholders allowed).
    env: Dict[str, str] = field(default_factory=dict)
    #: The signal of a graceful stop (the one that runs ``lifespan.shutdown``).
    stop_signal: int = signal.SIGINT
    #: What this server lacks, said in the checks it makes fail (e.g. no lifespan protocol).
    lacks: str = ""
    #: Set for ``--command`` recipes: the JSON config then records the template.
    custom: bool = False
    #: option -> value -> (plain, TLS) transports that value adds to the run.
    option_transports: Dict[str, Dict[str, Tuple[FrozenSet[str], FrozenSet[str]]]] = field(
        default_factory=dict)

    def available(self) -> Capabilities:
        """What the release installed here offers: its version (the distribution's metadata) and,
        with a ``probe``, its options (in a subprocess: never import a server here)."""
        if not self.probe:
            try:
                return Capabilities(metadata.version(self.name), {}, {})
            except metadata.PackageNotFoundError as exc:
                if self.custom:
                    return Capabilities(None, {}, {})  # any command: its version may be unknown
                what = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
                return Capabilities(None, {}, {}, error=f"{self.name} not installed here: {what}")
        args = ["lifespan_state.check._driver", "capabilities", self.name]
        try:
            data = json_line(args, None, 60.0, RuntimeError)
        except RuntimeError as exc:  # the traceback's last line, e.g. no module named the server
            return Capabilities(None, {}, {}, error=f"{self.name} not installed here: {exc}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Capabilities(None, {}, {}, error=f"probe failed: {exc}")
        return Capabilities(data.get("version"), data["choices"], data["defaults"])

    def config(self, capabilities: Capabilities, **chosen: Optional[str]) -> Dict[str, str]:
        """The default configuration with ``chosen`` values (None: default) — validated."""
        config = dict(capabilities.defaults)
        for option, value in chosen.items():
            if value is None:
                continue
            if option not in self.options:
                raise ConfigError(f"{self.name} has no option {option!r} in the check kit"
                                  + (f" (options: {', '.join(self.options)})" if self.options else ""))
            allowed = capabilities.choices.get(option, list(self.options[option]))
            if value not in allowed:
                raise ConfigError(
                    f"{self.name} {capabilities.version}: {option}={value!r} is not available here "
                    f"(available: {', '.join(allowed) or 'none'})"
                )
            config[option] = value
        return config

    def uses(self, config: Dict[str, str], tls: bool) -> FrozenSet[str]:
        """The transports a run of ``config`` speaks."""
        found = set(self.tls_transports if tls else self.transports) | {"h1"}
        for option, value in config.items():
            plain, secure = self.option_transports.get(option, {}).get(value, (frozenset(), frozenset()))
            found |= secure if tls else plain
        if config.get("ws") == "none":
            found -= {"ws", "ws-h2"}
        return frozenset(found)

    def argv(self, config: Dict[str, str], ctx: LaunchContext, transports: FrozenSet[str],
             tls: bool) -> List[str]:
        values = ctx.values()
        words = expand(self.command, values)
        for option, value in config.items():
            if option == "command":  # a --command recipe's config records its template
                continue
            table = self.options.get(option)
            if table is None or value not in table:
                raise ConfigError(f"{self.name}: unknown {option}={value!r}")
            words += expand(table[value], values)
        if tls:
            words += expand(self.tls, values)
        for name in sorted(transports):
            words += expand(self.transport_args.get(name, ""), values)
        return words

    def environ(self, ctx: LaunchContext) -> Dict[str, str]:
        values = ctx.values()
        return {k: v.format(**values) for k, v in self.env.items()}


def recipe_of(integration: Integration) -> Recipe:
    """The recipe of an integration's ``launch`` (which it must have)."""
    launch = integration.launch
    if launch is None:
        raise ValueError(f"integration {integration.name!r} has no launch recipe")
    return Recipe(
        name=integration.name,
        command=launch.command,
        transports=launch.transports,
        tls=launch.tls,
        tls_transports=launch.tls_transports,
        transport_args=dict(launch.transport_args),
        options={option: dict(values) for option, values in launch.options.items()},
        probe=bool(launch.capabilities),
        lifespan_off=None if launch.lifespan_off is None else dict(launch.lifespan_off),
        lifespan_raise=dict(launch.lifespan_raise),
        driver=bool(launch.driver),
        env=dict(launch.env),
        stop_signal=signal.Signals[launch.stop_signal],
        lacks=launch.lacks,
        option_transports={option: dict(values) for option, values in launch.option_transports.items()},
    )


#: Every integration that can be launched, by rank (the order of ``lifespan-state check``'s runs).
RECIPES: Dict[str, Recipe] = {i.name: recipe_of(i) for i in integrations() if i.launch is not None}


def custom_recipe(template: str, name: Optional[str] = None,
                  transports: Optional[Tuple[str, ...]] = None) -> Recipe:
    """A recipe for an arbitrary server command (``--command``).

    The server's name is ``name``, else the module after ``-m``, else the executable's name; a
    built-in server's recipe lends its transports and features (S8 and S9 runs, stop signal,
    environment), ``transports`` replaces them. With ``{certfile}`` in the template, the TLS
    transports are used.
    """
    words = shlex.split(template)
    guess = words[words.index("-m") + 1] if "-m" in words[:-1] else os.path.basename(words[0])
    name = name or guess
    base = RECIPES.get(name) or RECIPES.get(guess) or Recipe(name, template)
    tls = "{certfile}" in template
    chosen = frozenset(transports) if transports else None
    plain = chosen or base.transports
    secure = chosen or base.tls_transports or plain
    return dataclasses.replace(
        base, name=name, command=template, custom=True, probe=False,
        transports=frozenset() if tls else plain, tls="",
        tls_transports=secure if tls else frozenset(),
        # A run "without lifespan" appends the built-in's option; only its lifespan option.
        options={k: v for k, v in base.options.items() if k == "lifespan"},
    )
