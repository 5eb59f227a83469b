"""Servers as launch recipes: a command template plus what the server supports.

A :class:`Recipe` is everything the check kit knows about one server while it checks it: the
command that starts it (``{python} -m NAME {app} --host {host} --port {port}``; the placeholders
are those of docs/CONFORMANCE.md), the transports it speaks (plain, and with TLS), its options
(each value a template fragment appended to the command), its S8 and S9 features, its environment
and stop signal: the ``launch`` of an integration's descriptor (``lifespan_state._integrations``,
:func:`recipe_of`) under the name the report gives the server.

:data:`RECIPES` holds the built-in recipes, by distribution name: one per integration that has a
``launch``, this package's and other distributions' (entry points), by rank. ``lifespan-state
check --command TEMPLATE`` makes a recipe from any command (:func:`custom_recipe`): the command
owns its options, its stop signal and its run without lifespan (explicit flags, never a built-in
recipe's); a server it names (``--name``, ``-m NAME`` or the ``NAME`` executable) lends only what
is true of the server whatever its command: its transports (``--transport`` overrides them), its
S9 driver, what it lacks; the program the command runs lends its environment. See
docs/CONFORMANCE.md for what each check needs.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Tuple

from .._integrations._descriptor import Integration, Launch
from .._integrations._load import integrations
from ._installed import packages_of, providing
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
    "stop_signal",
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
    #: The distribution that installed the server's import package (its own, or a fork's).
    distribution: str = ""


@dataclass
class Recipe:
    """How to launch one server and what it supports: its integration's ``launch`` (or one made
    from a ``--command``) under the name the report gives it; see the module docstring."""

    name: str
    launch: Launch
    #: Set for ``--command`` recipes: the JSON config then records the template.
    custom: bool = False
    #: The import package the server's code is (its version is that of whatever installed it).
    package: str = ""
    #: The integration whose S9 driver, capabilities and shim status the server has ("" when
    #: made: the name's own).
    integration: str = ""
    #: ``--command``: the template of the run with lifespan disabled, "" when none was given.
    lifespan_off_command: str = ""

    def __post_init__(self) -> None:
        self.integration = self.integration or self.name

    @property
    def shimmed_by(self) -> str:
        """The integration whose shim acts on this server's code, which decides whether the kit
        runs its shim arm: the name's own, or that of the server whose import package the named
        distribution installs (a fork under another name, e.g. ``--name nonecorn``)."""
        if self.integration != self.name and self.package in packages_of(self.name):
            return self.integration
        return self.name

    @property
    def stop_signal(self) -> int:
        """The signal of a graceful stop (the one that runs ``lifespan.shutdown``)."""
        return int(signal.Signals[self.launch.stop_signal])

    @property
    def driver(self) -> bool:
        """Its integration has an in-process S9 driver (``_driver NAME``); for the others S9 says so."""
        return bool(self.launch.driver)

    def available(self) -> Capabilities:
        """What the release installed here offers: its version (the metadata of the distribution
        that installed its import package) and, with a ``capabilities`` probe, its options (in a subprocess:
        never import a server here)."""
        if not self.launch.capabilities:
            found = providing(self.name, self.package or self.name)
            if found is not None:
                return Capabilities(found[1], {}, {}, distribution=found[0])
            if self.custom:
                return Capabilities(None, {}, {})  # any command: its version may be unknown
            return Capabilities(None, {}, {}, error=f"{self.name} not installed here: no distribution "
                                f"installs {self.package or self.name}")
        args = ["lifespan_state.check._driver", "capabilities", self.integration]
        try:
            data = json_line(args, None, 60.0, RuntimeError)
        except RuntimeError as exc:  # the traceback's last line, e.g. no module named the server
            return Capabilities(None, {}, {}, error=f"{self.name} not installed here: {exc}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Capabilities(None, {}, {}, error=f"probe failed: {exc}")
        return Capabilities(data.get("version"), data["choices"], data["defaults"],
                            distribution=data.get("distribution", ""))

    def described(self, capabilities: Capabilities) -> Dict[str, str]:
        """What the report adds to a run's configuration: for ``--command``, the stop signal and
        the run without lifespan it used; the distribution, when another than the server's name
        installed its code."""
        shown: Dict[str, str] = {}
        if capabilities.distribution and capabilities.distribution.lower() != self.name.lower():
            shown["distribution"] = capabilities.distribution
        if self.custom:
            shown["stop_signal"] = self.launch.stop_signal
            shown["lifespan_off_command"] = self.lifespan_off_command or "none"
        return shown

    def config(self, capabilities: Capabilities, **chosen: Optional[str]) -> Dict[str, str]:
        """The default configuration with ``chosen`` values (None: default) — validated."""
        config = dict(capabilities.defaults)
        options = self.launch.options
        for option, value in chosen.items():
            if value is None:
                continue
            if option not in options:
                raise ConfigError(f"{self.name} has no option {option!r} in the check kit"
                                  + (f" (options: {', '.join(options)})" if options else ""))
            allowed = capabilities.choices.get(option, list(options[option]))
            if value not in allowed:
                raise ConfigError(
                    f"{self.name} {capabilities.version}: {option}={value!r} is not available here "
                    f"(available: {', '.join(allowed) or 'none'})"
                )
            config[option] = value
        return config

    def uses(self, config: Dict[str, str], tls: bool) -> FrozenSet[str]:
        """The transports a run of ``config`` speaks."""
        found = set(self.launch.tls_transports if tls else self.launch.transports) | {"h1"}
        extra = self.launch.option_transports
        for option, value in config.items():
            plain, secure = extra.get(option, {}).get(value, (frozenset(), frozenset()))
            found |= secure if tls else plain
        if config.get("ws") == "none":
            found -= {"ws", "ws-h2"}
        return frozenset(found)

    def argv(self, config: Dict[str, str], ctx: LaunchContext, transports: FrozenSet[str],
             tls: bool) -> List[str]:
        values = ctx.values()
        if self.custom:  # its config is its template (another one in the run without lifespan)
            return expand(config.get("command", self.launch.command), values)
        words = expand(self.launch.command, values)
        for option, value in config.items():
            table = self.launch.options.get(option)
            if table is None or value not in table:
                raise ConfigError(f"{self.name}: unknown {option}={value!r}")
            words += expand(table[value], values)
        if tls:
            words += expand(self.launch.tls, values)
        for name in sorted(transports):
            words += expand(self.launch.transport_args.get(name, ""), values)
        return words

    def environ(self, ctx: LaunchContext) -> Dict[str, str]:
        values = ctx.values()
        return {k: v.format(**values) for k, v in self.launch.env.items()}


def recipe_of(integration: Integration) -> Recipe:
    """The recipe of an integration's ``launch`` (which it must have)."""
    if integration.launch is None:
        raise ValueError(f"integration {integration.name!r} has no launch recipe")
    return Recipe(integration.name, integration.launch, package=integration.imports[0].partition(".")[0],
                  integration=integration.name)


#: Every integration that can be launched, by rank (the order of ``lifespan-state check``'s runs).
RECIPES: Dict[str, Recipe] = {i.name: recipe_of(i) for i in integrations() if i.launch is not None}


def stop_signal(name: str) -> int:
    """The signal ``name`` (``SIGTERM``, ``TERM`` or its number)."""
    text = name.strip().upper()
    try:
        return int(signal.Signals(int(text)) if text.isdigit() else signal.Signals[
            text if text.startswith("SIG") else f"SIG{text}"])
    except (KeyError, ValueError):
        raise ConfigError(f"--stop-signal: unknown signal {name!r} (e.g. SIGTERM, SIGINT, SIGQUIT)") from None


def _named(name: str, guess: str) -> Optional[Recipe]:
    """The built-in recipe of the server ``name`` (a distribution): by its name, by the import
    package it installs (a fork under another name), else the one ``guess`` (the command's
    module or executable) names."""
    if name in RECIPES:
        return RECIPES[name]
    packages = packages_of(name)
    for recipe in RECIPES.values():
        if recipe.package in packages:
            return recipe
    return RECIPES.get(guess)


def custom_recipe(template: str, name: Optional[str] = None,
                  transports: Optional[Tuple[str, ...]] = None, *, stop: str = "SIGTERM",
                  lifespan_off: Optional[str] = None) -> Recipe:
    """A recipe for an arbitrary server command (``--command``).

    The server's name is ``name``, else the module after ``-m``, else the executable's name. The
    command is the whole command: the server is stopped with ``stop`` (SIGTERM: what servers treat
    as a graceful stop), ``lifespan_off`` is the template of S8's run with lifespan disabled (None:
    S8 runs only the app that raises on the lifespan scope). A built-in server it names lends its
    transports (``transports`` replaces them), S9 driver and what it lacks (see the module
    docstring); the program it runs lends its environment. With ``{certfile}`` in the template, the
    TLS transports are used.
    """
    words = shlex.split(template)
    guess = words[words.index("-m") + 1] if "-m" in words[:-1] else os.path.basename(words[0])
    name = name or guess
    base = _named(name, guess) or Recipe(name, Launch(template))
    tls = "{certfile}" in template
    chosen = frozenset(transports) if transports else None
    # Not the transports the built-in turns on with options of its own (a separate QUIC binding):
    # the command has them, or --transport names them.
    own = frozenset(base.launch.transport_args)
    plain = chosen or base.launch.transports - own
    secure = chosen or (base.launch.tls_transports - own) or plain
    launch = Launch(
        template, transports=frozenset() if tls else plain, tls_transports=secure if tls else frozenset(),
        lifespan_off=None if lifespan_off is None else {"command": lifespan_off},
        # The environment is the program's (the command's module or executable), e.g. where an
        # arbiter opens its control socket, whatever server its worker is.
        driver=base.launch.driver, env=(RECIPES.get(guess) or base).launch.env,
        stop_signal=signal.Signals(stop_signal(stop)).name, lacks=base.launch.lacks,
    )
    return Recipe(name, launch, custom=True, package=base.package, integration=base.integration,
                  lifespan_off_command=lifespan_off or "")
