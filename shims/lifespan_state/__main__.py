"""``python -m lifespan_state`` is the ``lifespan-state`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
