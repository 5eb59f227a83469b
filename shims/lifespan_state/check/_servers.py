"""How to launch each server: table-driven command builders and capability probes.

Extension point
---------------
Each server is one :class:`ServerBuilder` in :data:`BUILDERS`. A configuration is a flat
``{option: value}`` mapping (``{"http": "h11", "ws": "wsproto", "lifespan": "auto",
"worker": "asyncio"}``); it appears verbatim in the JSON results. To add configurations:

* a new value of an existing option, or a new option: add it to ``builder.options[option]``,
  mapping the value to argv (a tuple, or a callable ``(LaunchContext) -> argv`` when the argv
  depends on the run — e.g. TLS certificate paths the callable writes into ``ctx.workdir``; such a
  callable may also leave facts for the clients in ``ctx.extras``, e.g. ``ctx.extras["ca_file"]``
  makes the checks use HTTP/2 over TLS);
* which values the *installed* release supports: ``builder.available`` (run in a subprocess with
  the environment's interpreter, never in the checking process) returns ``choices``; values not
  listed there are rejected with a clear message;
* which client protocols apply to a configuration: ``builder.transports(config, ctx)`` returns
  names: ``"h1"`` and ``"ws"`` (WebSocket over HTTP/1.1) are built in, every other name is looked
  up in ``_transports.TRANSPORTS`` (``"h2c"``, ``"h2-tls"`` are registered there; register more
  with ``register_transport``); the checks run each applicable transport;
* a whole new server: ``register(ServerBuilder(...))``.

Another module can do all of this at import time (``from ._servers import BUILDERS``) and be listed
in :data:`EXTENSIONS`, which :func:`load_extensions` imports before the checks run.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

__all__ = [
    "BUILDERS",
    "EXTENSIONS",
    "PROBE_APP",
    "ArgvPart",
    "Capabilities",
    "ConfigError",
    "LaunchContext",
    "ServerBuilder",
    "load_extensions",
    "register",
]

#: The probe app, as every server's command line names it.
PROBE_APP = "lifespan_state.check._probe:app"

#: Modules (inside this package) that extend BUILDERS when imported; missing ones are ignored.
EXTENSIONS: List[str] = ["lifespan_state.check._hypercorn_configs"]


class ConfigError(ValueError):
    """A configuration the installed server cannot run (unknown option or value)."""


@dataclass
class LaunchContext:
    """Facts about one server launch that argv builders and clients share."""

    host: str
    port: int
    workdir: str
    python: str = sys.executable
    app: str = PROBE_APP
    #: Filled by argv callables for the clients, e.g. ``ca_file`` for TLS.
    extras: Dict[str, Any] = field(default_factory=dict)


ArgvPart = Union[Tuple[str, ...], Callable[[LaunchContext], Sequence[str]]]


@dataclass
class Capabilities:
    """What the installed release of a server offers (from a subprocess probe)."""

    server: str
    version: Optional[str]
    choices: Dict[str, List[str]]
    defaults: Dict[str, str]
    error: str = ""


@dataclass
class ServerBuilder:
    """Everything the check kit knows about launching one server; see the module docstring."""

    name: str
    #: ``python -m <module>`` starts the server.
    module: str
    #: argv for the app and the bind address.
    base: Callable[[LaunchContext], List[str]]
    #: option -> value -> argv part. Options missing from a config add nothing.
    options: Dict[str, Dict[str, ArgvPart]]
    #: Python source run in the checked environment; prints one JSON object
    #: ``{"version": ..., "choices": {option: [values]}, "defaults": {option: value}}``.
    probe_source: str
    #: config, ctx -> client protocols that apply.
    transports: Callable[[Dict[str, str], LaunchContext], Set[str]]
    #: Config overrides for an S8 run "with lifespan disabled"; None: the server cannot disable it.
    lifespan_off: Optional[Dict[str, str]] = None
    #: Config overrides for an S8 run whose app raises on the lifespan scope.
    lifespan_raise: Dict[str, str] = field(default_factory=dict)
    #: Module run as ``python -m`` for S9 (in-process servers); None: S9 is skipped.
    driver: Optional[str] = "lifespan_state.check._driver"

    def available(self, python: str = sys.executable, timeout: float = 60.0) -> Capabilities:
        """Probe the release installed for ``python`` (in a subprocess: never import a server here)."""
        try:
            done = subprocess.run(
                [python, "-c", self.probe_source],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Capabilities(self.name, None, {}, {}, error=f"probe failed: {exc}")
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return Capabilities(self.name, None, {}, {}, error=f"{self.name} not importable: {last}")
        data = json.loads(done.stdout.strip().splitlines()[-1])
        return Capabilities(self.name, data.get("version"), data["choices"], data["defaults"])

    def config(self, capabilities: Capabilities, **chosen: Optional[str]) -> Dict[str, str]:
        """The default configuration with ``chosen`` values (None: default) — validated."""
        config = dict(capabilities.defaults)
        for option, value in chosen.items():
            if value is None:
                continue
            if option not in self.options:
                raise ConfigError(f"{self.name} has no option {option!r} in the check kit")
            allowed = capabilities.choices.get(option, [])
            if value not in allowed:
                raise ConfigError(
                    f"{self.name} {capabilities.version}: {option}={value!r} is not available here "
                    f"(available: {', '.join(allowed) or 'none'})"
                )
            config[option] = value
        return config

    def command(self, config: Dict[str, str], ctx: LaunchContext) -> List[str]:
        argv = [ctx.python, "-m", self.module, *self.base(ctx)]
        for option, value in config.items():
            table = self.options.get(option)
            if table is None:
                raise ConfigError(f"{self.name} has no option {option!r} in the check kit")
            if value not in table:
                raise ConfigError(f"{self.name}: unknown {option}={value!r}")
            part = table[value]
            argv += list(part(ctx) if callable(part) else part)
        return argv


BUILDERS: Dict[str, ServerBuilder] = {}


def register(builder: ServerBuilder) -> ServerBuilder:
    BUILDERS[builder.name] = builder
    return builder


_loaded_extensions = False


def load_extensions() -> None:
    """Import every module in EXTENSIONS once (each extends BUILDERS when imported)."""
    global _loaded_extensions
    if _loaded_extensions:
        return
    _loaded_extensions = True
    for name in EXTENSIONS:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


# -- uvicorn ------------------------------------------------------------------------------------

_UVICORN_PROBE = r"""
import importlib, importlib.util, json, sys
try:
    from importlib import metadata
except ImportError:
    import importlib_metadata as metadata
import uvicorn.config as c

def has(module):
    return importlib.util.find_spec(module) is not None

def resolve(table, auto_path):
    # What uvicorn's "auto" picks in this environment, as the option value naming it.
    module, _, attr = auto_path.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception:
        return None
    if obj is None:
        return "none"
    target = obj.__module__ + ":" + obj.__name__
    for key, value in table.items():
        if key != "auto" and value == target:
            return key
    return None

needs = {"httptools": "httptools", "websockets": "websockets", "websockets-sansio": "websockets",
         "wsproto": "wsproto", "uvloop": "uvloop"}
usable = lambda key: key not in needs or has(needs[key])
# zttp (uvicorn's HTTP/2, 0.53+) never ends a bodiless request: the probe's GETs would hang.
http = [k for k in c.HTTP_PROTOCOLS if k not in ("auto", "zttp") and usable(k)]
ws = [k for k in c.WS_PROTOCOLS if k != "auto" and usable(k)]
loops = getattr(c, "LOOP_SETUPS", None) or getattr(c, "LOOP_FACTORIES", None) or {}
worker = [k for k in ("asyncio", "uvloop") if k in loops and usable(k)]
lifespan = [k for k in ("on", "auto", "off") if k in c.LIFESPAN]
default_http = resolve(c.HTTP_PROTOCOLS, c.HTTP_PROTOCOLS["auto"]) or "h11"
default_ws = resolve(c.WS_PROTOCOLS, c.WS_PROTOCOLS["auto"]) or ("wsproto" if "wsproto" in ws else "none")
print(json.dumps({
    "version": metadata.version("uvicorn"),
    "choices": {"http": http, "ws": ws, "lifespan": lifespan, "worker": worker},
    # asyncio, not uvicorn's "auto": releases < 0.15 break on uvloop >= 0.22.
    "defaults": {"http": default_http, "ws": default_ws, "lifespan": "auto", "worker": "asyncio"},
}))
"""


def _uvicorn_base(ctx: LaunchContext) -> List[str]:
    return [ctx.app, "--host", ctx.host, "--port", str(ctx.port)]


def _uvicorn_transports(config: Dict[str, str], ctx: LaunchContext) -> Set[str]:
    return {"h1"} if config.get("ws") == "none" else {"h1", "ws"}


register(
    ServerBuilder(
        name="uvicorn",
        module="uvicorn",
        base=_uvicorn_base,
        options={
            "http": {v: ("--http", v) for v in ("h11", "httptools")},
            "ws": {v: ("--ws", v) for v in ("websockets", "websockets-sansio", "wsproto", "none")},
            "lifespan": {v: ("--lifespan", v) for v in ("on", "auto", "off")},
            "worker": {v: ("--loop", v) for v in ("asyncio", "uvloop")},
        },
        probe_source=_UVICORN_PROBE,
        transports=_uvicorn_transports,
        lifespan_off={"lifespan": "off"},
        # "on" exits when the lifespan raises; "auto" carries on without it, which S8 needs.
        lifespan_raise={"lifespan": "auto"},
    )
)


# -- hypercorn ----------------------------------------------------------------------------------

_HYPERCORN_PROBE = r"""
import importlib.util, json
try:
    from importlib import metadata
except ImportError:
    import importlib_metadata as metadata
import hypercorn.config  # importable at all?
has = lambda m: importlib.util.find_spec(m) is not None
worker = ["asyncio"] + [k for k in ("uvloop", "trio") if has(k)]
print(json.dumps({
    "version": metadata.version("hypercorn"),
    # One port speaks HTTP/1.1 (h11) and, by prior knowledge, cleartext HTTP/2 (h2).
    "choices": {"http": ["h11+h2"], "ws": ["wsproto"], "lifespan": ["auto"], "worker": worker},
    "defaults": {"http": "h11+h2", "ws": "wsproto", "lifespan": "auto", "worker": "asyncio"},
}))
"""


def _hypercorn_base(ctx: LaunchContext) -> List[str]:
    return ["--bind", f"{ctx.host}:{ctx.port}", ctx.app]


def _hypercorn_transports(config: Dict[str, str], ctx: LaunchContext) -> Set[str]:
    found = {"h1", "ws"}
    if "h2" in config.get("http", ""):
        found.add("h2-tls" if "ca_file" in ctx.extras else "h2c")
    return found


register(
    ServerBuilder(
        name="hypercorn",
        module="hypercorn",
        base=_hypercorn_base,
        options={
            # Both protocols are always on; the option names what the configuration serves.
            "http": {"h11+h2": ()},
            "ws": {"wsproto": ()},
            # hypercorn always runs the lifespan and carries on when the app raises on it.
            "lifespan": {"auto": ()},
            "worker": {v: ("--worker-class", v) for v in ("asyncio", "uvloop", "trio")},
        },
        probe_source=_HYPERCORN_PROBE,
        transports=_hypercorn_transports,
        lifespan_off=None,
        lifespan_raise={},
    )
)
