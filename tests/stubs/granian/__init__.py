"""Stub of granian for the offline unit tier: only what its integration touches
(lifespan_state/_integrations/granian/).

The registry loads the shim on ``import granian.asgi``; its one wrap is
``LifespanProtocol.shutdown``. No ``stub_run``: every supported release hands requests state of
its own, so a run would show state with or without the shim.
"""

STUB_IMPORTS = ()
STUB_HOOKS = ("granian.asgi.LifespanProtocol.shutdown",)
