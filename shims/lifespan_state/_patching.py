"""Wrapping hook points in place, keeping a handle of each wrap so that unpatching is exact.

A shim collects its wraps in one :class:`PatchSet`. ``apply`` is all-or-nothing: if any wrap
fails, the ones already made are undone before the error propagates, so a server is never left
half-patched. ``restore`` removes only our wrappers, also when another tool (a tracing agent)
wrapped the same attribute after us: its wrapper stays and is re-pointed at the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, List, Tuple

import wrapt

__all__ = ["PatchSet", "is_wrapped_by_us", "wrapper_depth"]

#: A wrapt wrapper function: (wrapped, instance, args, kwargs) -> result.
Wrapper = Callable[[Any, Any, Tuple[Any, ...], dict], Any]  # type: ignore[type-arg]

# Every FunctionWrapper we ever created and have not restored, by id -> object. Used to tell our
# wrappers from other tools' (never "has __wrapped__": other tools use wrapt too).
_OURS: dict[int, Any] = {}


@dataclass
class _Wrap:
    owner: Any
    name: str
    original: Any  # what vars(owner)[name] was, or _MISSING when inherited
    handle: Any
    label: str


_MISSING = object()


@dataclass
class PatchSet:
    """The wraps one shim installed, in order."""

    wraps: List[_Wrap] = field(default_factory=list)

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(w.label for w in self.wraps)

    def __bool__(self) -> bool:
        return bool(self.wraps)

    def apply(self, targets: List[Tuple[Any, str, Wrapper]]) -> None:
        """Wrap every ``(owner, attribute, wrapper)``; undo all of them if one fails."""
        try:
            for owner, name, wrapper in targets:
                self._wrap(owner, name, wrapper)
        except BaseException:
            self.restore()
            raise

    def _wrap(self, owner: Any, name: str, wrapper: Wrapper) -> None:
        own = vars(owner).get(name, _MISSING)
        current = _static_lookup(owner, name)
        if is_wrapped_by_us(current):
            # A second activation must never stack a second wrapper.
            raise RuntimeError(f"{_label(owner, name)} is already wrapped by lifespan-state-shim")
        handle = wrapt.FunctionWrapper(own if own is not _MISSING else current, wrapper)
        setattr(owner, name, handle)
        _OURS[id(handle)] = handle
        self.wraps.append(_Wrap(owner, name, own, handle, _label(owner, name)))

    def restore(self) -> None:
        """Remove our wrappers, newest first; leave other tools' wrappers working."""
        while self.wraps:
            wrap = self.wraps.pop()
            _OURS.pop(id(wrap.handle), None)
            _unwrap(wrap)


def _unwrap(wrap: _Wrap) -> None:
    current = vars(wrap.owner).get(wrap.name, _MISSING)
    original = wrap.handle.__wrapped__
    if current is wrap.handle:
        if wrap.original is _MISSING:
            delattr(wrap.owner, wrap.name)
        else:
            setattr(wrap.owner, wrap.name, wrap.original)
        return
    # Somebody wrapped on top of us: find the link that points at our handle and splice us out.
    node = current
    while node is not _MISSING and node is not None:
        inner = getattr(node, "__wrapped__", None)
        if inner is wrap.handle:
            node.__wrapped__ = original
            return
        node = inner
    # Our handle is no longer reachable (someone replaced the attribute outright): nothing of
    # ours is left in the call path, so there is nothing to remove.


def is_wrapped_by_us(obj: Any) -> bool:
    """True when ``obj`` or anything it wraps is one of our live wrappers."""
    seen = 0
    while obj is not None and seen < 64:
        if id(obj) in _OURS and _OURS[id(obj)] is obj:
            return True
        obj = getattr(obj, "__wrapped__", None)
        seen += 1
    return False


def wrapper_depth(obj: Any) -> int:
    """How many of our wrappers are stacked on ``obj`` (tests assert it is never above one)."""
    depth = 0
    seen = 0
    while obj is not None and seen < 64:
        if id(obj) in _OURS and _OURS[id(obj)] is obj:
            depth += 1
        obj = getattr(obj, "__wrapped__", None)
        seen += 1
    return depth


def _static_lookup(owner: Any, name: str) -> Any:
    """The raw attribute (no descriptor binding), through the MRO for classes."""
    for klass in getattr(owner, "__mro__", (owner,)):
        raw = vars(klass).get(name, _MISSING)
        if raw is not _MISSING:
            return raw
    raise AttributeError(f"{_label(owner, name)} does not exist")


def _label(owner: Any, name: str) -> str:
    module = getattr(owner, "__module__", None)
    qual = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", repr(owner))
    return f"{module}.{qual}.{name}" if module and qual != module else f"{qual}.{name}"
