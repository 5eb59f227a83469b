"""The factory's Python API on bad input: print, as JSON, what each call raised or returned.

Usage: python factory_errors.py  (with the test's app modules on PYTHONPATH: ``plain_app`` with
an ``app`` and a ``NUMBER``, ``bad_factory`` with ``make_app()``)

``load_app`` raises AppLoadError — a LifespanStateError — for every bad spec; ``factory_for``
checks its string at once; good specs give the app itself (a factory is called).
"""

from __future__ import annotations

import json
from typing import Any, Dict

from lifespan_state import LifespanStateError
from lifespan_state.factory import AppLoadError, factory_for, load_app


def main() -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for spec in ["plain_app", "plain_app:nope", "nosuch:app", "plain_app:NUMBER"]:
        try:
            load_app(spec)
        except AppLoadError as exc:
            out[spec] = isinstance(exc, LifespanStateError)
    try:
        factory_for("no colon")
    except AppLoadError:
        out["factory_for"] = True
    out["app"] = load_app("plain_app:app").__name__
    out["called"] = load_app("bad_factory:make_app()").__name__
    out["auto_called"] = load_app("bad_factory:make_app").__name__
    out["made"] = factory_for("plain_app:app")().__name__
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
