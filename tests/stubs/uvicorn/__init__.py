"""Stub of uvicorn for the offline unit tier: only what its integration touches
(lifespan_state/_integrations/uvicorn/)."""

from typing import Any

STUB_IMPORTS = ("uvicorn.lifespan.on", "uvicorn.lifespan.off")
STUB_HOOKS = ("uvicorn.lifespan.on.LifespanOn.__init__", "uvicorn.lifespan.off.LifespanOff.__init__")


class _Config:
    def __init__(self, app: Any) -> None:
        self.loaded_app = app


def stub_run(app: Any) -> Any:
    """What one server run calls for each connection: the lifespan object is created first,
    then every protocol calls ``config.loaded_app``."""
    from uvicorn.lifespan.on import LifespanOn

    config = _Config(app)
    LifespanOn(config)
    return config.loaded_app
