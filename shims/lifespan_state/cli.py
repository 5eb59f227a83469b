"""``lifespan-state``: check | run | status.

Each subcommand lives in its own module; this file only dispatches, so that ``status`` and
``run`` never pay for importing the check kit.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Dict, List, Optional, Sequence

__all__ = ["main"]

#: subcommand -> (module, function, one-line help). The function takes argv and returns an exit code.
_COMMANDS: Dict[str, tuple[str, str, str]] = {
    "check": ("lifespan_state.check._cli", "main", "run the conformance checks against real servers"),
    "run": ("lifespan_state.launcher", "main", "run a command with the shim active in every process"),
    "status": ("lifespan_state._status_cli", "main", "show what the shim found and did"),
}


def _usage() -> str:
    lines = ["usage: lifespan-state [--version] {check,run,status} [...]", ""]
    lines += [f"  {name:<8}{help_}" for name, (_, _, help_) in _COMMANDS.items()]
    lines += ["", "`lifespan-state COMMAND --help` for the options of each."]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args: List[str] = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0 if args else 2
    if args[0] in {"-V", "--version"}:
        # From the package itself, not the installed metadata: an editable or copied checkout
        # reports the code that runs. (Importing the package imports no server.)
        from . import __version__

        print(f"lifespan-state {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in _COMMANDS:
        print(f"lifespan-state: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module, func, _ = _COMMANDS[name]
    handler: Callable[[List[str]], int] = getattr(importlib.import_module(module), func)
    return handler(rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
