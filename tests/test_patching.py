"""PatchSet: all-or-nothing wraps, exact restore, coexistence with foreign wrapt wrappers."""

from __future__ import annotations

from typing import Any, Dict, Tuple

import pytest
import wrapt

from lifespan_state._patching import PatchSet, is_wrapped_by_us, wrapper_depth


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
