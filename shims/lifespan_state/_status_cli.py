"""``lifespan-state status``: what the shim finds in this environment, as text or JSON.

For each supported distribution: the release found, the mode chosen, what is wrapped now and what
will be wrapped on which import (wraps that come with a submodule this command does not import) —
never "nothing wrapped" for a server that will be wrapped. ``LIFESPAN_STATE_DISABLE`` is reported
first when it is set. Looking at one integration can fail in any way (a server that raises at
import, e.g. Starlette's TestClient without an HTTP client): that becomes that row's line, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import warnings
from typing import Dict, List

from ._registry import DISABLE_ENV, DISABLE_VALUES, ServerStatus, activate, disabled_by_env, discover, status
from ._versions import SUPPORTED, installed_version

__all__ = ["main"]

_WIDTH = 10


def _disable_line() -> str:
    value = os.environ.get(DISABLE_ENV, "")
    if not value.strip():
        return ""
    if disabled_by_env():
        return f"{DISABLE_ENV}={value} is set: activation is off in this environment (unset it to activate)"
    return (
        f"{DISABLE_ENV}={value!r} is not one of {', '.join(DISABLE_VALUES)}: ignored, the shim is active"
    )


def _lines(name: str, info: ServerStatus, width: int) -> List[str]:
    # ``width`` fits the longest name reported (entry points' included), so no row shifts.
    if info.installed is None and not info.imported:
        return [f"{name:<{width}} not installed"]
    head = f"{name:<{width}} {info.installed or '?':<{_WIDTH}} mode={info.mode or '-':<7}"
    pad = " " * width
    lines: List[str] = []
    if info.patched:
        lines.append(f"{head} wrapped: {', '.join(info.patched)}")
    elif info.mode == "native":
        lines.append(f"{head} nothing to wrap: the release has lifespan state")
    elif info.pending:
        lines.append(f"{head} nothing wrapped yet")
    elif info.requested and info.mode is not None:
        lines.append(f"{head} nothing wrapped")
    else:
        lines.append(f"{head} not active")
    for module, what in info.pending.items():
        lines.append(f"{pad} on `import {module}`: {what}")
    if info.reason:
        lines.append(f"{pad} {info.reason}")
    return lines


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="lifespan-state status",
        description="Import each installed server, activate the shim, and report what it does.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    options = parser.parse_args(argv)
    if not disabled_by_env():  # switched off: said below, once, instead of in a log line too
        activate(strict=False)
    broken: Dict[str, str] = {}
    for name in discover():
        first = SUPPORTED[name].imports[0]
        try:
            with warnings.catch_warnings():
                # Looking is not using: a library's notices about its own imports (Starlette's
                # "install httpx2") are not what this report is about.
                warnings.simplefilter("ignore")
                importlib.import_module(first)
        except Exception as exc:  # a server or harness that refuses to import in this environment
            if isinstance(exc, ImportError) and installed_version(name) is None:
                continue  # not installed: reported as such below
            first_line = (str(exc).strip().splitlines() or [""])[0]
            broken[name] = f"`import {first}` failed here ({type(exc).__name__}: {first_line})"
    report = status()
    for name, why in broken.items():
        # Nothing is waiting for that import: it failed, and says why.
        report[name].pending = {}
        report[name].reason = why
    if options.json:
        data = {k: v.as_dict() for k, v in report.items()}
        json.dump(data, sys.stdout, indent=2)
        print()
        return 0
    note = _disable_line()
    if note:
        print(note)
    width = max(map(len, report), default=0)
    for name, info in report.items():
        for line in _lines(name, info, width):
            print(line)
    return 0
