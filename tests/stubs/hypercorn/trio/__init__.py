"""The trio worker's package: re-exports ``worker_serve`` as hypercorn does."""

from .run import worker_serve

__all__ = ["worker_serve"]
