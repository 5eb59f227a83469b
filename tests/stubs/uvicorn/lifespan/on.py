"""``LifespanOn(config)``: created once per server run; >= 0.21.0 gives it ``self.state``."""

from __future__ import annotations

import os
from typing import Any


class LifespanOn:
    if os.environ.get("STUB_STATE") == "1":

        def __init__(self, config: Any) -> None:
            self.config = config
            self.state: dict = {}  # type: ignore[type-arg]

    else:

        def __init__(self, config: Any) -> None:
            self.config = config
