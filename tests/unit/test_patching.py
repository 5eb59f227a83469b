"""PatchSet: all-or-nothing wraps, exact restore, coexistence with foreign wrapt wrappers."""

from __future__ import annotations

from typing import Any, Dict, Tuple

import pytest
import wrapt

from lifespan_state import _patching
from lifespan_state._patching import PatchSet, is_wrapped_by_us, wrapper_depth


@pytest.fixture(autouse=True, params=["wrapt-api", "fallback"])
def wrapt_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: through wrapt's own wrap/unwrap API (2.5+) and through our fallback
    (what wrapt 1.14 - 2.4 get)."""
    if request.param == "wrapt-api":
        if _patching._unwrap_object is None:
            pytest.skip(f"wrapt {wrapt.__version__} has no unwrap_object")
    else:
        monkeypatch.setattr(_patching, "_unwrap_object", None)
        monkeypatch.setattr(_patching, "_wrap_object", None)
        monkeypatch.setattr(_patching, "_wrapper_chain", None)
    return str(request.param)


def make_classes() -> Tuple[type, type]:
    class Base:
        def __init__(self, config: Any) -> None:
            self.config = config

    class Child(Base):
        pass

    return Base, Child


def tag(name: str) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        instance.tags = [*getattr(instance, "tags", []), name]
        return result

    return wrapper


def test_wrap_and_restore_exactly() -> None:
    base, _ = make_classes()
    original = vars(base)["__init__"]
    patches = PatchSet()
    patches.apply([(base, "__init__", tag("ours"))])
    assert base(1).tags == ["ours"]
    assert wrapper_depth(vars(base)["__init__"]) == 1
    assert patches.labels and patches.labels[0].endswith("Base.__init__")
    patches.restore()
    assert vars(base)["__init__"] is original
    assert not hasattr(base(1), "tags")


def test_inherited_attribute_is_shadowed_then_removed() -> None:
    base, child = make_classes()
    patches = PatchSet()
    patches.apply([(child, "__init__", tag("ours"))])
    assert "__init__" in vars(child)
    assert child(1).tags == ["ours"] and not hasattr(base(1), "tags")
    patches.restore()
    assert "__init__" not in vars(child)


def test_second_wrap_of_the_same_attribute_is_refused_and_nothing_stays_half_done() -> None:
    base, child = make_classes()
    first = PatchSet()
    first.apply([(base, "__init__", tag("ours"))])
    second = PatchSet()
    with pytest.raises(RuntimeError, match="already wrapped"):
        # The child wrap succeeds, then the base wrap fails: the child wrap must be undone.
        second.apply([(child, "__init__", tag("x")), (base, "__init__", tag("y"))])
    assert "__init__" not in vars(child)
    assert not second
    assert wrapper_depth(vars(base)["__init__"]) == 1


def test_restore_under_a_foreign_wrapper_keeps_the_foreign_one() -> None:
    base, _ = make_classes()
    original = vars(base)["__init__"]
    ours = PatchSet()
    ours.apply([(base, "__init__", tag("ours"))])
    wrapt.wrap_function_wrapper(base, "__init__", tag("agent"))
    assert base(1).tags == ["ours", "agent"]
    ours.restore()
    foreign = vars(base)["__init__"]
    assert foreign.__wrapped__ is original and not is_wrapped_by_us(foreign)
    assert base(1).tags == ["agent"]


def test_foreign_wrapper_below_ours_survives_restore() -> None:
    base, _ = make_classes()
    wrapt.wrap_function_wrapper(base, "__init__", tag("agent"))
    foreign = vars(base)["__init__"]
    ours = PatchSet()
    ours.apply([(base, "__init__", tag("ours"))])
    assert base(1).tags == ["agent", "ours"]
    ours.restore()
    assert vars(base)["__init__"] is foreign
    assert base(1).tags == ["agent"]


def test_restore_under_a_plain_closure_takes_our_wrapper_out_of_its_link() -> None:
    # A functools.wraps-style wrapper above ours: wrapt 2.5 refuses to splice there, and the
    # fallback re-points the closure's __wrapped__ (all that can be done without rebinding it).
    base, _ = make_classes()
    ours = PatchSet()
    ours.apply([(base, "__init__", tag("ours"))])
    inner = vars(base)["__init__"]

    def closure(self: Any, config: Any) -> None:
        inner(self, config)

    closure.__wrapped__ = inner  # type: ignore[attr-defined]
    base.__init__ = closure  # type: ignore[misc]
    ours.restore()
    assert not is_wrapped_by_us(vars(base)["__init__"])
    assert vars(base)["__init__"] is closure


def test_chain_walk_is_bounded_on_cycles() -> None:
    class Node:
        pass

    a, b = Node(), Node()
    a.__wrapped__ = b  # type: ignore[attr-defined]
    b.__wrapped__ = a  # type: ignore[attr-defined]
    assert list(_patching.chain(a)) == [a, b]
    assert not is_wrapped_by_us(a) and wrapper_depth(a) == 0
