"""Stub of gunicorn for the offline unit tier: only what its integration touches
(lifespan_state/_integrations/gunicorn/).

The registry loads the shim on ``import gunicorn.workers.gasgi`` (the ASGI worker); its decision
reads ``gunicorn.asgi.protocol.ASGIProtocol``'s code, and its one wrap is ``ASGIWorker.run``. No
``stub_run``: the releases the tests start from (24.0.0+) hand requests state of their own, so a
run would show state with or without the shim.
"""

STUB_IMPORTS = ()
STUB_HOOKS = ("gunicorn.workers.gasgi.ASGIWorker.run",)
