"""``python dist_version.py NAME``: print the installed version of distribution NAME.

The tests run it with an environment's interpreter to prove what the environment holds.
"""

from __future__ import annotations

import sys
from importlib.metadata import version

print(version(sys.argv[1]))
