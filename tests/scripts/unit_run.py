"""Run activation steps against a stub server (tests/stubs/) in this fresh interpreter; print JSON.

Usage: python unit_run.py SERVER STEP[,STEP...]

SERVER is a ``SUPPORTED`` key; the stub packages and the metadata giving the stub its version
are on PYTHONPATH (``tests/unit/test_unit_*.py`` set it up). Steps:

* ``import``: import the server (the row's first import name) and the stub's ``STUB_IMPORTS``;
* ``activate`` / ``lenient``: ``lifespan_state.activate(SERVER)``, strict / ``strict=False``;
* ``all``: ``lifespan_state.activate()`` (every server, as the launcher does);
* ``deactivate``: ``lifespan_state.deactivate(SERVER)``;
* ``auto``: ``import lifespan_state.auto``;
* ``break``: make the shim's wraps fail (its ``targets()`` raises), to exercise the fail-safe paths.

An exception a step raises is recorded (type and message), never fatal. The output says what
``status()`` reports, how many of our wrappers sit on each of the stub's ``STUB_HOOKS`` (None:
not imported), what the shim module says, and — through the stub's ``stub_run`` — whether an
HTTP scope of a run would get a ``state``. Log records of ``lifespan_state`` are in ``log``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
import warnings
from typing import Any, Callable, Dict, List, Optional

import lifespan_state
from lifespan_state._versions import SUPPORTED


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


def _import(server: str) -> None:
    top = importlib.import_module(SUPPORTED[server].imports[0])
    for name in getattr(sys.modules[top.__name__.partition(".")[0]], "STUB_IMPORTS", ()):
        importlib.import_module(name)


def _hooks_module(server: str) -> str:
    """The module of the integration's hook code (its descriptor names it)."""
    from lifespan_state._integrations._load import load

    return load(SUPPORTED[server].integration).hooks_module


def _break(server: str) -> None:
    shim: Any = importlib.import_module(_hooks_module(server))

    def fail(decision: Any) -> Any:
        raise RuntimeError("stub: a hook point moved")

    shim.SHIM.targets = fail
    shim.SHIM.deferred = dict


def _resolve(label: str) -> Optional[Any]:
    """The object a ``status()`` label names, from modules already imported (never imports)."""
    parts = label.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        owner: Any = module
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        attribute = parts[-1]
        return vars(owner).get(attribute) if isinstance(owner, type) else getattr(owner, attribute, None)
    return None


def _served_state(server: str) -> Optional[bool]:
    """Does an HTTP scope of one stub run get a ``state``? None: the stub has no ``stub_run``."""
    package = sys.modules.get(SUPPORTED[server].imports[0].partition(".")[0])
    run = getattr(package, "stub_run", None)
    if run is None:
        return None
    seen: Dict[str, Any] = {}

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        seen["state"] = "state" in scope

    async def nothing() -> Dict[str, Any]:
        return {}

    async def ignore(message: Dict[str, Any]) -> None:
        return None

    served = run(app)
    asyncio.run(served({"type": "http", "path": "/"}, nothing, ignore))
    return bool(seen.get("state"))


def main(server: str, steps: List[str]) -> Dict[str, Any]:
    from lifespan_state._patching import wrapper_depth

    records = _Records()
    logging.getLogger("lifespan_state").addHandler(records)
    logging.getLogger("lifespan_state").setLevel(logging.DEBUG)
    errors: List[List[str]] = []
    actions: Dict[str, Callable[[], object]] = {
        "import": lambda: _import(server),
        "activate": lambda: lifespan_state.activate(server),
        "lenient": lambda: lifespan_state.activate(server, strict=False),
        "all": lambda: lifespan_state.activate(),
        "deactivate": lambda: lifespan_state.deactivate(server),
        "auto": lambda: importlib.import_module("lifespan_state.auto"),
        "break": lambda: _break(server),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in steps:
            try:
                actions[step]()
            except Exception as exc:
                errors.append([step, type(exc).__name__, str(exc)])
    package = sys.modules.get(SUPPORTED[server].imports[0].partition(".")[0])
    hooks = getattr(package, "STUB_HOOKS", ())
    depths = {}
    for hook in hooks:
        target = _resolve(hook)
        depths[hook] = None if target is None else wrapper_depth(target)
    shim = sys.modules.get(_hooks_module(server))
    result: Dict[str, Any] = {
        "status": lifespan_state.status()[server].as_dict(),
        "errors": errors,
        "depths": depths,
        "shim_loaded": shim is not None,
        "shim_is_patched": shim.SHIM.is_patched() if shim is not None else None,
        "served_state": _served_state(server) if package is not None else None,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "log": records.lines,
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2].split(","))))
