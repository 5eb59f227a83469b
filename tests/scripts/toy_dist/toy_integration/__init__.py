"""The toy server's integration, shipped by a distribution of its own (entry point group
``lifespan_state.integrations``): lifespan-state-shim learns of it without being edited."""

from __future__ import annotations

from lifespan_state._integrations._descriptor import Integration, Launch

INTEGRATION = Integration(
    name="toyserver",
    kind="server",
    imports=("toyserver",),
    ranges=(("1.0", "add", "the toy server has no lifespan state"),),
    newest_tested="1.0",
    notable=("1.0",),
    commands=("toyserver",),
    launch=Launch(
        command="{python} -m toyserver {app} --host {host} --port {port}",
        transports=frozenset({"h1"}),
        options={"lifespan": {"on": "", "off": "--no-lifespan"}},
        lifespan_off={"lifespan": "off"},
    ),
    package=__name__,
)
