"""What a Python sees of Debian 12's packages: python debian_packages.py versions|files

* ``versions`` (run by /usr/bin/python3 -I): the installed release of each package the README's
  Debian recipe uses (null when missing), after checking that ``ensurepip`` (python3-venv) is there;
* ``files`` (run in the recipe's venv): where wrapt, packaging and the servers are imported from,
  with lifespan_state importable there too.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import json
import sys
from typing import Dict, Optional

PACKAGES = ("uvicorn", "hypercorn", "starlette", "wrapt", "packaging")


def versions() -> Dict[str, Optional[str]]:
    out: Dict[str, Optional[str]] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    import ensurepip  # noqa: F401 - python3-venv: fails the run when it is missing

    return out


def files() -> Dict[str, Optional[str]]:
    import lifespan_state  # noqa: F401 - the shim installs into that venv

    return {name: importlib.import_module(name).__file__ for name in ("wrapt", "packaging", *PACKAGES[:3])}


if __name__ == "__main__":
    print(json.dumps(versions() if sys.argv[1] == "versions" else files()))
