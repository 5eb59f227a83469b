"""The package's post-import hooks in this fresh interpreter: python hooks_order.py TREE ORDER

TREE holds ``demo_pkg`` (``sub`` with ``VALUE = 42``, ``broken`` that raises on import). ORDER:
``before`` / ``after`` (a hook registered before / after ``import demo_pkg.sub``),
``failing-import`` (the waited-for import fails), ``raising-hook`` (a hook that raises, then one
that does not), ``warning`` (``demo_pkg.warns`` warns at import with ``stacklevel=2``: imported
with a hook waiting for it, then ``demo_pkg.warns_too`` alike without one). Prints one JSON
line: what the hooks saw, whether the module kept its real loader, what is still pending, and
which heavy modules got imported (none may be: ``typing`` included, so this program imports no
``typing`` either).
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from types import ModuleType

sys.path.insert(0, sys.argv[1])

from lifespan_state import _hooks

HEAVY = ("wrapt", "typing", "logging", "importlib.metadata")


def main(order: str) -> dict[str, object]:
    seen: list[object] = []

    def note(module: ModuleType) -> None:
        seen.append((module.__name__, module.VALUE))

    if order == "before":
        _hooks.when_imported("demo_pkg.sub", note)
        import demo_pkg.sub  # type: ignore[import-not-found]
    elif order == "after":
        import demo_pkg.sub  # type: ignore[import-not-found]

        _hooks.when_imported("demo_pkg.sub", note)
    elif order == "failing-import":
        _hooks.when_imported("demo_pkg.broken", lambda m: seen.append(m.__name__))
        with contextlib.suppress(RuntimeError):
            import demo_pkg.broken  # type: ignore[import-not-found]
        sys.modules.pop("demo_pkg.broken", None)
    elif order == "raising-hook":

        def bad(module: ModuleType) -> None:
            raise ValueError("hook bug")

        _hooks.when_imported("demo_pkg.sub", bad)
        _hooks.when_imported("demo_pkg.sub", lambda m: seen.append(m.__name__))
        import demo_pkg.sub
    elif order == "warning":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _hooks.when_imported("demo_pkg.warns", lambda m: seen.append(m.__name__))
            import demo_pkg.warns  # type: ignore[import-not-found]  # hooked import
            import demo_pkg.warns_too  # type: ignore[import-not-found]  # noqa: F401  # plain import
        with open(__file__) as source:
            lines = source.read().splitlines()
        seen += [
            {
                "message": str(w.message),
                "file": w.filename,
                "line": lines[w.lineno - 1].split("#")[-1].strip() if w.filename == __file__ else None,
            }
            for w in caught
        ]
    import demo_pkg.sub as sub  # type: ignore[import-not-found]

    return {
        "seen": seen,
        "loader_is_real": type(sub.__loader__).__name__ == "SourceFileLoader",
        "spec_loader_is_real": type(sub.__spec__.loader).__name__ == "SourceFileLoader",
        "pending": _hooks.pending(),
        "heavy": sorted(m for m in HEAVY if m in sys.modules),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[2])))
