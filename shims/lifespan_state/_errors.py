"""The one exception hierarchy and the one warning category of the package."""

from __future__ import annotations

__all__ = [
    "ActivationTooLateWarning",
    "LifespanStateError",
    "ServerNotInstalledError",
    "ShimError",
    "UnsupportedServerError",
]


class LifespanStateError(Exception):
    """Base class of every error this package raises."""


class UnsupportedServerError(LifespanStateError):
    """The installed server release is outside the supported range.

    The message names the release found, the supported range and what to do.
    """

    def __init__(self, server: str, found: str, supported: str) -> None:
        self.server = server
        self.found = found
        self.supported = supported
        wanted = supported.split()[0]
        super().__init__(
            f"{server} {found} is not supported by lifespan-state-shim (supported: {server} "
            f"{supported}). Install a supported release (`pip install '{server}{wanted}'`) "
            f"or do not activate the shim for {server}."
        )


class ServerNotInstalledError(LifespanStateError):
    """Activation was asked for a server that is not installed."""

    def __init__(self, server: str) -> None:
        self.server = server
        super().__init__(
            f"{server} is not installed in this environment ({_python()}). "
            f"Install it (`pip install {server}`) or activate only the servers you use."
        )


class ShimError(LifespanStateError):
    """Patching failed for a reason of ours; the server was left exactly as it was."""


class ActivationTooLateWarning(RuntimeWarning):
    """Activation came after a server run had already loaded its application.

    That run goes on without the shim; runs started afterwards get it.
    """


def _python() -> str:
    import sys

    return sys.executable
