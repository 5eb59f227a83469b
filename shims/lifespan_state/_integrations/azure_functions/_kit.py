"""Azure Functions' part of the check kit (``lifespan-state check --harness azure-functions``): the
probe behind ``AsgiFunctionApp``, its HTTP function awaited on the kit's event loop (the portal's)
with synthetic requests, as the Functions worker awaits it. Runs in the harness arm's process only.
"""

from __future__ import annotations

import contextlib
import gc
import json
import threading
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Iterator, List

__all__ = ["make", "open"]

#: Seconds the release of a function app may take. Its ``__del__`` awaits ``lifespan.shutdown`` on a
#: new event loop while the lifespan runs on the worker's: it finishes at once or never (measured
#: with 1.26.0: never), and the kit must not wait for never.
RELEASE_DEADLINE = 5.0


def make(app: Any) -> Any:
    """The app itself: each run makes its own function app, as each worker process does."""
    return app


@contextlib.contextmanager
def open(app: Any, portal: Any, lifespan: bool) -> Iterator[Any]:
    """One run: an ``AsgiFunctionApp`` (lifespan at the first invocation, shutdown when it is
    released), or ``AsgiMiddleware(app).handle_async`` (no lifespan)."""
    import azure.functions as func

    function: Callable[[Any, Any], Awaitable[Any]]
    if lifespan:
        function_app = func.AsgiFunctionApp(app=app, http_auth_level=func.AuthLevel.ANONYMOUS)
        (http,) = function_app.get_functions()
        function = http.get_user_function()
    else:
        function = func.AsgiMiddleware(app).handle_async

    def get(target: str) -> Any:
        request = func.HttpRequest("GET", f"http://h{target}", headers={"host": "h"}, body=b"")
        response = portal.call(function, request, None)
        return SimpleNamespace(status_code=response.status_code,
                               json=lambda: json.loads(response.get_body()))

    yield SimpleNamespace(get=get)
    if lifespan:
        # The end of the run is the end of the function app: its __del__ sends lifespan.shutdown.
        # Released on a thread of its own (a daemon: one that never returns ends with the arm).
        doomed = [function_app]
        del function_app, http, function
        releaser = threading.Thread(target=_release, args=(doomed,), daemon=True, name="release")
        releaser.start()
        releaser.join(RELEASE_DEADLINE)
        if releaser.is_alive():
            raise RuntimeError(f"releasing the AsgiFunctionApp (its __del__ awaiting lifespan.shutdown on a "
                               f"new event loop) did not return within {RELEASE_DEADLINE:.0f} s")


def _release(doomed: List[Any]) -> None:
    doomed.clear()
    gc.collect()  # the function app and its functions refer to each other
