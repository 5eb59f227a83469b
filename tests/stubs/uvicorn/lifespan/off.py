"""``LifespanOff(config)``: the lifespan object of ``--lifespan off`` runs."""

from __future__ import annotations

from typing import Any


class LifespanOff:
    def __init__(self, config: Any) -> None:
        self.config = config
