"""anycorn >= 0.17.3 defines ``LifespanState`` (the shim's native-state probe)."""

import os
from typing import Any, Dict

if os.environ.get("STUB_STATE") == "1":
    LifespanState = Dict[str, Any]
