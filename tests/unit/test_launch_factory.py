"""Unit tests of the factory's import-string handling (servers run it in test_launch.py).

What is an application and what is a factory is decided from the object alone; these are
stand-in objects, not servers.
"""

from __future__ import annotations

import functools
import os
import sys
import types
from typing import Any, Iterator

import pytest

from lifespan_state import LifespanStateError
from lifespan_state.factory import APP_ENV, AppLoadError, env_spec, factory_for, load_app


async def asgi3(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
    pass


class AsgiObject:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        pass


class Asgi2Class:
    def __init__(self, scope: Any) -> None:  # pragma: no cover
        self.scope = scope


def sync_asgi2(scope: Any) -> Any:  # pragma: no cover - an ASGI2-style function
    return asgi3


def make() -> Any:
    return AsgiObject()


def make_with_defaults(debug: bool = False) -> Any:
    return asgi3


def make_needs_args(settings: Any) -> Any:
    return asgi3


@pytest.fixture()
def module() -> Iterator[types.ModuleType]:
    mod = types.ModuleType("fake_user_app")
    for name, value in {
        "asgi3": asgi3,
        "obj": AsgiObject(),
        "Asgi2Class": Asgi2Class,
        "sync_asgi2": sync_asgi2,
        "make": make,
        "make_with_defaults": make_with_defaults,
        "make_needs_args": make_needs_args,
        "partial_app": functools.partial(asgi3),
        "number": 42,
        "returns_none": lambda: None,
        "nested": types.SimpleNamespace(app=asgi3),
    }.items():
        setattr(mod, name, value)
    sys.modules["fake_user_app"] = mod
    yield mod
    del sys.modules["fake_user_app"]


@pytest.mark.parametrize("name", ["asgi3", "obj", "Asgi2Class", "sync_asgi2", "partial_app", "nested.app"])
def test_applications_are_returned_as_they_are(module: types.ModuleType, name: str) -> None:
    expected = functools.reduce(getattr, name.split("."), module)
    assert load_app(f"fake_user_app:{name}") is expected


def test_factories_are_called(module: types.ModuleType) -> None:
    assert isinstance(load_app("fake_user_app:make"), AsgiObject)
    assert load_app("fake_user_app:make_with_defaults") is asgi3
    assert isinstance(load_app("fake_user_app:make()"), AsgiObject)  # explicit call syntax


def test_a_callable_needing_arguments_is_taken_as_the_app(module: types.ModuleType) -> None:
    # It cannot be called without arguments, so it is not our business to call it.
    assert load_app("fake_user_app:make_needs_args") is make_needs_args


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fake_user_app", "is not of the form module:attribute"),
        (":app", "is not of the form module:attribute"),
        ("fake_user_app:", "is not of the form module:attribute"),
        ("fake user:app", "is not of the form module:attribute"),
        ("fake_user_app:a-b", "is not of the form module:attribute"),
        ("fake_user_app:missing", "module 'fake_user_app' has no attribute 'missing'"),
        ("fake_user_app:nested.missing", "has no attribute 'nested.missing'"),
        ("fake_user_app:number", "is 42 (type int), not an ASGI application"),
        ("fake_user_app:returns_none", "returned None (type NoneType), not an ASGI application"),
        ("no_such_module_xyz:app", "module 'no_such_module_xyz' not found"),
        ("no_such_package_xyz.sub:app", "module 'no_such_package_xyz.sub' not found"),
        ("lifespan_state.factory:create_app", "names the lifespan-state factory itself"),
    ],
)
def test_bad_input_raises_a_typed_error(module: types.ModuleType, spec: str, message: str) -> None:
    with pytest.raises(AppLoadError) as caught:
        load_app(spec)
    assert message in str(caught.value)
    assert isinstance(caught.value, LifespanStateError)


def test_factory_for_checks_its_string_at_once() -> None:
    with pytest.raises(AppLoadError, match="module:attribute"):
        factory_for("not a spec")
    created = factory_for("fake_user_app:make")
    assert created.__name__ == "create_app" and "fake_user_app:make" in (created.__doc__ or "")


def test_factory_for_refuses_another_of_ours(module: types.ModuleType) -> None:
    module.ours = factory_for("fake_user_app:asgi3")  # type: ignore[attr-defined]
    with pytest.raises(AppLoadError, match="factory itself"):
        load_app("fake_user_app:ours")


def test_env_spec_checks_form_without_importing() -> None:
    assert env_spec({APP_ENV: "whatever_module_xyz:app"}) == "whatever_module_xyz:app"
    assert "whatever_module_xyz" not in sys.modules
    with pytest.raises(AppLoadError, match="is not set"):
        env_spec({})
    with pytest.raises(AppLoadError, match="is not set"):
        env_spec({APP_ENV: "  "})
    with pytest.raises(AppLoadError, match="not of the form"):
        env_spec({APP_ENV: "main.app"})


def test_bootstrap_env_puts_the_bootstrap_first_once() -> None:
    from lifespan_state.launcher import BOOTSTRAP_DIR, bootstrap_env

    assert bootstrap_env({})["PYTHONPATH"] == BOOTSTRAP_DIR
    assert bootstrap_env({"PYTHONPATH": ""})["PYTHONPATH"] == BOOTSTRAP_DIR
    joined = bootstrap_env({"PYTHONPATH": f"/a{os.pathsep}{os.pathsep}/b"})["PYTHONPATH"]
    assert joined.split(os.pathsep) == [BOOTSTRAP_DIR, "/a", "", "/b"]  # the user's kept as is
    again = bootstrap_env({"PYTHONPATH": joined})["PYTHONPATH"]
    assert again == joined


def test_the_bootstrap_triggers_on_every_supported_server() -> None:
    """The bootstrap cannot import the versions table at start-up (it must stay cheap): the
    launcher hands it the trigger list in its environment, made from the table."""
    from lifespan_state import SUPPORTED
    from lifespan_state.launcher import TRIGGERS_ENV, bootstrap_env

    names = set(bootstrap_env({})[TRIGGERS_ENV].split(","))
    # Top-level import names (the table is keyed by distribution: asgi-lifespan is asgi_lifespan).
    tops = {row.imports[0].partition(".")[0] for row in SUPPORTED.values()}
    assert tops <= names, names
