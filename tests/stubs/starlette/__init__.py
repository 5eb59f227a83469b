"""Stub of Starlette for the offline unit tier: only the ``TestClient`` its integration touches
(lifespan_state/_integrations/starlette_testclient/).

The registry loads the shim on ``import starlette.testclient``. No ``stub_run``: every supported
release hands requests a copy of ``app_state``, so a run would show state with or without the shim.
"""

STUB_IMPORTS = ()
STUB_HOOKS = (
    "starlette.testclient.TestClient.__init__",
    "starlette.testclient.TestClient.__enter__",
    "starlette.testclient.TestClient.__exit__",
)
