"""What a process started under ``lifespan-state run`` finds; print it as one JSON line.

Usage: python bootstrap_report.py MODE [ARGS]

* ``report [--import] [--again]``: is the shim active, did anything import a server, whose
  ``sitecustomize`` holds the name, PYTHONPATH; with ``--import``, ``import uvicorn`` (the first
  server import activates the shim and patches it on the spot) and what the registry then says;
  with ``--again``, run our bootstrap module a second time first (it must change nothing);
* ``child``: ``report --import`` in a child process (as workers and reload children are), exit
  with its status;
* ``exec-first DIR``: put DIR first on PYTHONPATH (what another bootstrap does right before it
  execs), then exec ``child``;
* ``package-first``: import lifespan_state before any server, deactivate, then import uvicorn;
* ``look-up``: ``importlib.util.find_spec("lifespan_state")``, then import uvicorn;
* ``rewrite replaced|extended``: replace or extend PYTHONPATH, then import uvicorn; print ``ran``;
* ``try-import``: import uvicorn if it is there (a Python without our package); print ``ran``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Any, Dict, List

HEAVY = ("uvicorn", "hypercorn", "gunicorn", "lifespan_state", "wrapt", "asyncio")


def report(args: List[str]) -> Dict[str, Any]:
    if "--again" in args:
        import runpy

        import lifespan_state.launcher as launcher

        runpy.run_path(os.path.join(launcher.BOOTSTRAP_DIR, "sitecustomize.py"))
    site = sys.modules.get("sitecustomize")
    out: Dict[str, Any] = {
        "imported_at_start": sorted(m for m in HEAVY if m in sys.modules),
        "sitecustomize": getattr(site, "__file__", None),
        "user_mark": getattr(site, "USER_MARK", None),
        "user_runs": getattr(__builtins__, "USER_SITE_RUNS", None),
        "pythonpath": os.environ.get("PYTHONPATH", ""),
    }
    if "--import" in args:
        import uvicorn  # noqa: F401 - the first server import activates the shim

        registry: Any = sys.modules.get("lifespan_state._registry")
        out["requested"] = sorted(registry._requested) if registry else None
        info = registry.status()["uvicorn"] if registry else None
        out["uvicorn"] = {"mode": info.mode, "patched": list(info.patched)} if info else None
    return out


def main(mode: str, args: List[str]) -> None:
    if mode == "report":
        print(json.dumps(report(args)))
    elif mode == "child":
        raise SystemExit(subprocess.run([sys.executable, __file__, "report", "--import"]).returncode)
    elif mode == "exec-first":
        here = args[0]
        rest = [e for e in os.environ["PYTHONPATH"].split(os.pathsep) if e != here]
        os.environ["PYTHONPATH"] = os.pathsep.join([here, *rest])
        os.execv(sys.executable, [sys.executable, __file__, "child"])
    elif mode == "package-first":
        import lifespan_state

        seen = lifespan_state.status()["uvicorn"].requested
        lifespan_state.deactivate()
        import uvicorn

        info = lifespan_state.status()["uvicorn"]
        loader = type(lifespan_state.__loader__).__name__
        print(json.dumps({"active_before": seen, "after": list(info.patched), "loader": loader}))
    elif mode == "look-up":
        import importlib.util

        found = importlib.util.find_spec("lifespan_state") is not None
        import uvicorn

        import lifespan_state

        print(json.dumps({"found": found, "patched": bool(lifespan_state.status()["uvicorn"].patched)}))
    elif mode == "rewrite":
        if args[0] == "replaced":
            os.environ["PYTHONPATH"] = "/elsewhere"
        else:
            os.environ["PYTHONPATH"] += os.pathsep + "/elsewhere"
        import uvicorn

        print("ran")
    elif mode == "try-import":
        with contextlib.suppress(ImportError):
            import uvicorn  # noqa: F401 - the import is the test
        print("ran")
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
