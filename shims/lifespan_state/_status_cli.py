"""``lifespan-state status``: what the shim finds in this environment, as text or JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import List

from ._registry import activate, status

__all__ = ["main"]


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="lifespan-state status",
        description="Import each installed server, activate the shim, and report the mode chosen.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    options = parser.parse_args(argv)
    activate(strict=False)
    for name in status():
        try:
            importlib.import_module(name)
        except ImportError:
            continue  # not installed: reported as such below
    report = status()
    if options.json:
        json.dump({k: v.as_dict() for k, v in report.items()}, sys.stdout, indent=2)
        print()
        return 0
    for name, info in report.items():
        if info.installed is None and not info.imported:
            print(f"{name:<10} not installed")
            continue
        what = ", ".join(info.patched) if info.patched else "nothing wrapped"
        print(f"{name:<10} {info.installed or '?':<10} mode={info.mode or '-':<7} {what}")
        if info.reason:
            print(f"{'':<10} {info.reason}")
    return 0
