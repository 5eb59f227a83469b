"""Print the mode the versions table gives a release: python table_mode.py SERVER VERSION.

Run in a per-release environment (the one that has the package installed), so the test reads the
table that environment's shim uses.
"""

from __future__ import annotations

import sys

from packaging.version import Version

from lifespan_state._versions import mode_for

if __name__ == "__main__":
    entry = mode_for(sys.argv[1], Version(sys.argv[2]))
    print(entry.mode if entry is not None else "unsupported")
