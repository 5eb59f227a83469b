"""``python tools/run_checks.py SERVER OPTIONS_JSON SHIM``: the check kit's Python API in one process.

Run by ``tools.patches`` (and the tests) inside a per-release environment, for configurations the
command line does not expose (hypercorn's ``app`` variants): prints ``{"results": [...]}``, the
records of ``lifespan_state.check.run_checks(SERVER, shim=SHIM, **OPTIONS)`` in the JSON form of
``lifespan-state check --json``.
"""

from __future__ import annotations

import json
import sys
from typing import List

from lifespan_state.check import run_checks


def main(argv: List[str]) -> int:
    server, options, shim = argv
    records = run_checks(server, shim=shim, **json.loads(options))
    print(json.dumps({"results": [record.as_dict() for record in records]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
