"""hypercorn configurations beyond the defaults: worker processes and app variants.

Loaded through ``_servers.EXTENSIONS``. It replaces the ``hypercorn`` builder with a subclass that
keeps every option of the base builder and adds:

* ``workers``: ``default`` | ``0`` | ``1`` | ``2`` — hypercorn's ``--workers`` (0.14.2+ spawns
  worker processes even for 1; 0 serves in the main process on 0.15+).
* ``app``: ``probe`` | ``proxy_fix`` | ``dispatcher`` | ``asgi2`` — the served app, from
  :mod:`._hypercorn_apps` (``proxy_fix`` needs 0.16+, ``asgi2`` needs < 0.14).

Choices are what the installed release supports (probed in a subprocess, as the base builder
does). Through the Python API: ``run_checks("hypercorn", app="proxy_fix", workers="2")``.

TLS and HTTP/3 are not options here: the kit's main run speaks plain HTTP/1.1 to its one port, and
hypercorn serves TLS (and QUIC, which needs the certificate) on its ``--bind`` sockets. HTTP/2
over TLS, HTTP/3 and WebSocket over HTTP/2 are checked by :mod:`._hypercorn_checks`, which serves
plain HTTP and TLS/QUIC on two ports of one server.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Dict, List

from ._servers import BUILDERS, Capabilities, LaunchContext, ServerBuilder, register

__all__ = ["HypercornBuilder", "app_target"]

_APPS = "lifespan_state.check._hypercorn_apps"

_EXTRA_PROBE = r"""
import importlib.util, json
try:
    from importlib import metadata
except ImportError:
    import importlib_metadata as metadata
from packaging.version import Version
has = lambda m: importlib.util.find_spec(m) is not None
v = Version(metadata.version("hypercorn"))
workers = ["default", "1", "2"] + (["0"] if v >= Version("0.15") else [])
apps = ["probe", "dispatcher"]
if v >= Version("0.16"):
    apps.append("proxy_fix")
if v < Version("0.14"):
    apps.append("asgi2")
print(json.dumps({"workers": workers, "app": apps}))
"""

_EXTRA_DEFAULTS = {"workers": "default", "app": "probe"}


def app_target(app: str, worker: str) -> str:
    """The import string hypercorn serves for the ``app`` option."""
    if app == "probe":
        from ._servers import PROBE_APP

        return PROBE_APP
    if app == "dispatcher":
        return f"{_APPS}:dispatcher({worker!r})"
    return f"{_APPS}:{app}()"


@dataclasses.dataclass
class HypercornBuilder(ServerBuilder):
    """The base hypercorn builder plus the options of this module."""

    def available(self, python: str = sys.executable, timeout: float = 60.0) -> Capabilities:
        found = super().available(python, timeout)
        if found.error:
            return found
        try:
            done = subprocess.run([python, "-c", _EXTRA_PROBE], capture_output=True, text=True,
                                  timeout=timeout, check=True)
            extra = json.loads(done.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.SubprocessError, ValueError):
            # The base configuration still works; only the defaults of our options are offered.
            extra = {k: [v] for k, v in _EXTRA_DEFAULTS.items()}
        found.choices.update(extra)
        for option, value in _EXTRA_DEFAULTS.items():
            found.defaults.setdefault(option, value)
        return found

    def command(self, config: Dict[str, str], ctx: LaunchContext) -> List[str]:
        ctx.app = app_target(config.get("app", "probe"), config.get("worker", "asyncio"))
        return super().command(config, ctx)


def _extend() -> None:
    base = BUILDERS.get("hypercorn")
    if base is None or isinstance(base, HypercornBuilder):
        return
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    options = dict(fields["options"])
    options["workers"] = {"default": (), **{n: ("--workers", n) for n in ("0", "1", "2")}}
    # The app is chosen in HypercornBuilder.command (it is part of the base argv).
    options["app"] = {name: () for name in ("probe", "proxy_fix", "dispatcher", "asgi2")}
    fields["options"] = options
    register(HypercornBuilder(**fields))


_extend()
