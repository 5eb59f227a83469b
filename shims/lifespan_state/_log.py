"""Fail-safe logging for the whole package, without importing :mod:`logging` until a line is due.

``import lifespan_state.auto`` must stay cheap (no server imported, nothing to say), and
:mod:`logging` alone costs more than the whole activation. Every message goes to the
``lifespan_state`` logger; a failing handler never reaches the caller (these calls run inside
other people's imports and servers).
"""

from __future__ import annotations

__all__ = ["DEBUG", "ERROR", "INFO", "WARNING", "log", "log_once"]

# The standard levels, spelled out so that callers need not import logging for the constants.
DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40

_logged: set[str] = set()


def log(level: int, message: str, *args: object) -> None:
    """``logging.getLogger("lifespan_state").log(level, message, *args)``; never raises."""
    try:
        import logging

        logging.getLogger("lifespan_state").log(level, message, *args)
    except Exception:  # pragma: no cover - a broken handler must not break the host process
        pass


def log_once(key: str, level: int, message: str, *args: object) -> None:
    """Like :func:`log`, once per ``key`` and process."""
    if key in _logged:
        return
    _logged.add(key)
    log(level, message, *args)
