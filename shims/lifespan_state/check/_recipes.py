"""Servers as launch recipes: a command template plus what the server supports.

A :class:`Recipe` is everything the check kit knows about one server: the command that starts it
(``{python} -m uvicorn {app} --host {host} --port {port}``; the placeholders are those of
docs/CONFORMANCE.md), the transports it speaks (plain, and with TLS), its options (each value a
template fragment appended to the command), its S8 and S9 features, its environment and stop signal.

:data:`RECIPES` holds the built-in recipes, by distribution name. ``lifespan-state check
--command TEMPLATE`` makes a recipe from any command (:func:`custom_recipe`); when the command runs
a built-in server (``-m NAME`` or the ``NAME`` executable) it inherits that server's transports
and features, which ``--transport`` overrides. See docs/CONFORMANCE.md for what each check needs.
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
    #: transport -> fragment the server needs to offer it (e.g. hypercorn's ``--quic-bind``).
    transport_args: Dict[str, str] = field(default_factory=dict)
    #: option -> value -> fragment (appended to the command).
    options: Dict[str, Dict[str, str]] = field(default_factory=dict)
    #: Its options come from ``_driver``'s capabilities probe, run in the checked environment;
    #: False: the distribution's version (metadata) only, no options.
    probe: bool = False
    #: Config overrides for the S8 run "with lifespan disabled"; None: the server cannot.
    lifespan_off: Optional[Dict[str, str]] = None
    #: Config overrides for the S8 run whose app raises on the lifespan scope.
    lifespan_raise: Dict[str, str] = field(default_factory=dict)
    #: S9 needs an in-process driver (``_driver``); for the others S9 says so.
    driver: bool = False
    #: Extra environment of the server process (placeholders allowed).
    env: Dict[str, str] = field(default_factory=dict)
    #: The signal of a graceful stop (the one that runs ``lifespan.shutdown``).
    stop_signal: int = signal.SIGINT
    #: What this server lacks, said in the checks it makes fail (e.g. no lifespan protocol).
    lacks: str = ""
    #: Set for ``--command`` recipes: the JSON config then records the template.
    custom: bool = False

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


RECIPES: Dict[str, Recipe] = {}


def _register(recipe: Recipe) -> None:
    RECIPES[recipe.name] = recipe


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


# -- uvicorn ------------------------------------------------------------------------------------

_register(Recipe(
    name="uvicorn",
    command="{python} -m uvicorn {app} --host {host} --port {port}",
    tls="--ssl-certfile {certfile} --ssl-keyfile {keyfile}",
    tls_transports=frozenset({"h1", "ws"}),
    options={
        "http": {v: f"--http {v}" for v in ("h11", "httptools")},
        "ws": {v: f"--ws {v}" for v in ("websockets", "websockets-sansio", "wsproto", "none")},
        "lifespan": {v: f"--lifespan {v}" for v in ("on", "auto", "off")},
        "worker": {v: f"--loop {v}" for v in ("asyncio", "uvloop")},
    },
    probe=True,
    lifespan_off={"lifespan": "off"},
    # "on" exits when the lifespan raises; "auto" carries on without it, which S8 needs.
    lifespan_raise={"lifespan": "auto"},
    driver=True,
))


# -- hypercorn ----------------------------------------------------------------------------------

_register(Recipe(
    name="hypercorn",
    command="{python} -m hypercorn --bind {host}:{port} {app}",
    transports=frozenset({"h1", "ws", "h2c"}),
    # TLS and QUIC on one port number (TCP and UDP): HTTP/2 by ALPN, RFC 8441, HTTP/3.
    tls="--certfile {certfile} --keyfile {keyfile}",
    tls_transports=frozenset({"h1", "ws", "h2-tls", "ws-h2", "h3"}),
    transport_args={"h3": "--quic-bind {host}:{port}"},
    options={
        # Both protocols are always on; the option names what the configuration serves.
        "http": {"h11+h2": ""},
        "ws": {"wsproto": ""},
        # hypercorn always runs the lifespan and carries on when the app raises on it.
        "lifespan": {"auto": ""},
        "worker": {v: f"--worker-class {v}" for v in ("asyncio", "uvloop", "trio")},
        "workers": {"default": "", **{n: f"--workers {n}" for n in ("0", "1", "2")}},
    },
    probe=True,
    driver=True,
))


# -- the rest of the field (docs/field.md) --------------------------------------------------------

_register(Recipe(
    name="gunicorn",
    # The native ASGI worker (24.0+); one worker process: one lifespan to observe.
    command="{python} -m gunicorn -k asgi --workers 1 --bind {host}:{port} {app}",
    tls="--certfile {certfile} --keyfile {keyfile} --http-protocols h2,h1",
    tls_transports=frozenset({"h1", "ws", "h2-tls"}),
    options={"lifespan": {v: f"--asgi-lifespan {v}" for v in ("auto", "on", "off")}},
    lifespan_off={"lifespan": "off"},
    lifespan_raise={"lifespan": "auto"},
    # 27.x opens a control socket under $HOME (or $XDG_RUNTIME_DIR): the run's own directory.
    env={"HOME": "{workdir}", "XDG_RUNTIME_DIR": "{workdir}"},
    # SIGINT is gunicorn's quick exit; SIGTERM its graceful one (lifespan.shutdown runs).
    stop_signal=signal.SIGTERM,
))

# HTTP/2 by prior knowledge on the plain port, by ALPN with TLS.
for _name, _command, _tls in (
    ("granian", "{python} -m granian --interface asgi --host {host} --port {port} {app}",
     "--ssl-certificate {certfile} --ssl-keyfile {keyfile}"),
    ("anycorn", "{python} -m anycorn --bind {host}:{port} {app}",
     "--certfile {certfile} --keyfile {keyfile}"),
):
    _register(Recipe(_name, _command, transports=frozenset({"h1", "ws", "h2c"}), tls=_tls,
                     tls_transports=frozenset({"h1", "ws", "h2-tls"})))

_register(Recipe(
    name="daphne",
    command="{python} -m daphne --bind {host} --port {port} {app}",
    lacks="daphne implements no ASGI lifespan protocol",
))
