"""Run any ASGI application with the shim active, without editing it: the ``--factory`` way in.

The application is named by the environment variable ``LIFESPAN_STATE_APP`` (``module:attribute``,
the servers' own syntax; an app factory there is called too)::

    LIFESPAN_STATE_APP=main:app uvicorn lifespan_state.factory:create_app --factory  # >= 0.13
    LIFESPAN_STATE_APP=main:app uvicorn lifespan_state.factory:app                   # any uvicorn
    LIFESPAN_STATE_APP=main:app hypercorn "lifespan_state.factory:create_app()"

The server calls the factory in every process that serves (each spawned or forked worker, each
reload child) and always *before* it creates its lifespan handling — uvicorn inside
``Config.load()``, the others when a worker loads its application — so activating there is
always in time.

``lifespan_state.factory:app`` is the same thing for servers without a factory flag (uvicorn
< 0.13): a module attribute resolved when the server looks it up, which it does at the very same
point. Users who write their own module use :func:`factory_for`::

    # asgi.py
    from lifespan_state.factory import factory_for
    create_app = factory_for("main:app")        # uvicorn asgi:create_app --factory

Bad input (the variable missing or malformed, a module or attribute that does not exist, a target
that is not an ASGI application) is reported in one line on stderr and the process exits with
status 1 — what the servers themselves do for a wrong import string. :func:`load_app` raises
:class:`AppLoadError` instead, for code that wants to handle it.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Mapping, NoReturn, Optional, Tuple

from ._errors import LifespanStateError
from ._registry import activate

__all__ = ["APP_ENV", "AppLoadError", "create_app", "env_spec", "factory_for", "load_app"]

#: The environment variable naming the application, as ``module:attribute``.
APP_ENV = "LIFESPAN_STATE_APP"

_EXAMPLE = "e.g. main:app, or main:create_app for an app factory"


class AppLoadError(LifespanStateError):
    """The application named by an import string cannot be loaded; the message says why."""


def _split(spec: str, source: str) -> Tuple[str, str, bool]:
    text = spec.strip()
    module, sep, attrs = text.partition(":")
    called = attrs.endswith("()")
    if called:
        attrs = attrs[:-2]
    parts = attrs.split(".")
    if (
        not sep
        or not module
        or not all(part.isidentifier() for part in parts)
        or not all(part.isidentifier() for part in module.split("."))
    ):
        raise AppLoadError(
            f"{source}={spec!r} is not of the form module:attribute ({_EXAMPLE}). "
            "Name the module the server should import and the application in it."
        )
    return module, attrs, called


def _import(module: str, spec: str, source: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only "the module itself is missing" is bad input; an import error raised *inside* the
        # user's module is the user's bug and keeps its own traceback.
        missing = exc.name or ""
        if missing == module or module.startswith(missing + "."):
            raise AppLoadError(
                f"{source}={spec!r}: module {module!r} not found (working directory "
                f"{os.getcwd()}). Start the server where the module is, or add its directory "
                "to PYTHONPATH."
            ) from None
        raise


def _resolve(target: Any, module: str, attrs: str, spec: str, source: str) -> Any:
    for part in attrs.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppLoadError(
                f"{source}={spec!r}: module {module!r} has no attribute {attrs!r}. "
                "Check the name of the application object (or factory) in that module."
            ) from None
    return target


def _is_async_callable(obj: Any) -> bool:
    # inspect's test, not asyncio's (deprecated in 3.14); it looks through functools.partial.
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - we want the method, not callable()
    return call is not None and inspect.iscoroutinefunction(call)


def _is_factory(obj: Any) -> bool:
    """A plain (synchronous) callable that can be called without arguments.

    An ASGI application needs ``scope`` (and ``receive``, ``send``), so a callable that takes no
    required argument cannot be one: it is a factory. Classes are left alone (ASGI2 style apps
    are classes the server instantiates with the scope).
    """
    if inspect.isclass(obj) or _is_async_callable(obj):
        return False
    try:
        inspect.signature(obj).bind()
    except TypeError:
        return False
    except ValueError:  # builtins without a signature
        return False
    return True


def _describe(obj: Any) -> str:
    return f"{obj!r:.60} (type {type(obj).__name__})"


def load_app(spec: str, *, source: str = "the import string") -> Any:
    """Import ``module:attribute`` and return the ASGI application it names.

    A factory (a callable taking no argument, or any callable when written ``module:name()``) is
    called and its result returned. Raises :class:`AppLoadError` for a malformed string, a module
    or attribute that does not exist, or a target that is not an ASGI application. Errors raised
    while importing the user's module or calling the user's factory propagate unchanged.
    """
    module, attrs, called = _split(spec, source)
    target = _resolve(_import(module, spec, source), module, attrs, spec, source)
    if target is create_app or getattr(target, "_lifespan_state_factory", False):
        raise AppLoadError(
            f"{source}={spec!r} names the lifespan-state factory itself; name your own "
            f"application instead ({_EXAMPLE})."
        )
    if not callable(target):
        raise AppLoadError(
            f"{source}={spec!r} is {_describe(target)}, not an ASGI application "
            "(an async callable taking scope, receive, send) or a factory returning one."
        )
    if called or _is_factory(target):
        app = target()
        if not callable(app) or inspect.isawaitable(app):
            raise AppLoadError(
                f"the factory {source}={spec!r} returned {_describe(app)}, not an ASGI "
                "application. Make it return the application object."
            )
        return app
    return target


def _fail(exc: AppLoadError) -> NoReturn:
    # Called by a server: one clear line and exit status 1, like the servers do for a wrong
    # import string — a traceback through our frames would only hide the message.
    sys.stderr.write(f"lifespan-state: error: {exc}\n")
    sys.stderr.flush()
    raise SystemExit(1)


_SERVED_ITSELF = (
    "{path} is being served as the application itself (the server called it with a request's "
    "arguments) instead of being called for the application it returns: write "
    '`hypercorn "{path}()"` (with the parentheses; likewise for other servers that take an '
    "application factory call), or `uvicorn {path} --factory`."
)
_served_itself_told = threading.Lock()


def _served_itself(path: str, args: Any, kwargs: Any) -> NoReturn:
    """The factory got the server's call arguments: it is being served instead of called
    (``hypercorn "lifespan_state.factory:create_app"`` without ``()``: hypercorn takes a plain
    function for an ASGI2 or WSGI app). That can never serve anything, so stop this process
    with one line at this first scope — answering 500 to every request with a TypeError would
    hide the cause."""
    if _served_itself_told.acquire(blocking=False):  # one line, even from concurrent requests
        sys.stderr.write("lifespan-state: error: " + _SERVED_ITSELF.format(path=path) + "\n")
        sys.stderr.flush()
    sys.stdout.flush()
    # os._exit: this runs inside the server (an event loop, or a WSGI worker thread), where
    # SystemExit would be caught and turned into one more failed request.
    os._exit(1)


def factory_for(spec: str) -> Callable[[], Any]:
    """An app factory for ``spec`` (``module:attribute``) that activates the shim first.

    Use it in a module of your own and point the server at that factory
    (``uvicorn mymodule:create_app --factory``). On bad input the factory prints one line to
    stderr and exits with status 1.
    """
    _split(spec, "factory_for")  # a malformed string is the caller's bug: raise right here

    def create(*args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            _served_itself(f"{getattr(create, '__module__', '?')}:create_app", args, kwargs)
        activate(strict=False)
        try:
            return load_app(spec, source="factory_for")
        except AppLoadError as exc:
            _fail(exc)

    create._lifespan_state_factory = True  # type: ignore[attr-defined]
    create.__qualname__ = create.__name__ = "create_app"
    create.__doc__ = f"Activate lifespan-state-shim and return the application {spec!r}."
    return create


def env_spec(environ: Optional[Mapping[str, str]] = None) -> str:
    """The value of ``LIFESPAN_STATE_APP``, checked for form only (nothing is imported).

    Raises :class:`AppLoadError` when it is unset or not ``module:attribute``.
    """
    spec = (os.environ if environ is None else environ).get(APP_ENV)
    if spec is None or not spec.strip():
        raise AppLoadError(
            f"{APP_ENV} is not set: set it to the application to serve, as module:attribute "
            f"({_EXAMPLE}), e.g. `{APP_ENV}=main:app uvicorn lifespan_state.factory:create_app "
            "--factory`."
        )
    _split(spec, APP_ENV)
    return spec


def _from_env() -> Any:
    return load_app(env_spec(), source=APP_ENV)


def create_app(*args: Any, **kwargs: Any) -> Any:
    """Activate the shim in this process and return the application named by ``LIFESPAN_STATE_APP``.

    Meant to be called by the server, once per serving process, without arguments. On bad input
    it prints one line to stderr and exits with status 1 — also when the server calls it with a
    request, i.e. serves the factory itself (``hypercorn "lifespan_state.factory:create_app"``
    without the ``()``).
    """
    if args or kwargs:
        _served_itself(f"{__name__}:create_app", args, kwargs)
    activate(strict=False)
    try:
        return _from_env()
    except AppLoadError as exc:
        _fail(exc)


if TYPE_CHECKING:
    #: The application named by LIFESPAN_STATE_APP, loaded (with the shim active) on first lookup.
    app: Any
else:

    def __getattr__(name: str) -> Any:
        # ``lifespan_state.factory:app`` for servers without a factory flag (uvicorn < 0.13): the
        # server looks the attribute up when it loads the application — before it creates its
        # lifespan handling — and that lookup activates and loads. Not in __all__ on purpose: a
        # star import must not load the application. Hidden from type checkers, which would
        # otherwise accept any attribute of this module.
        if name == "app":
            loaded = create_app()
            globals()["app"] = loaded  # later lookups (a second Config.load) get the same object
            return loaded
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
