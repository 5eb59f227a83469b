"""Wrapping hook points in place, keeping a handle of each wrap so that unpatching is exact.

A shim's wraps go through one :class:`PatchSet` (the shim base owns it). ``apply`` is
all-or-nothing: if any wrap fails, the ones already made are undone before the error propagates,
so a server is never left half-patched. ``restore`` removes only our wrappers, also when another
tool (a tracing agent) wrapped the same attribute after us: its wrapper stays and is re-pointed at
the original.

wrapt 2.5 and later know how to do both: ``wrap_object`` records whether the wrap created the
attribute's slot, ``unwrap_object`` restores exactly or splices a buried wrapper out of a chain of
wrapt wrappers, and ``find_wrapper`` / ``wrapper_chain`` walk the chain. Those are used where they
exist; wrapt 1.14 - 2.4 get the same behaviour from the code below (the splice of earlier
releases). Every walk of a ``__wrapped__`` chain in the package goes through :func:`chain`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, Sequence, Tuple

import wrapt

__all__ = ["PatchSet", "Wrapper", "bindings", "chain", "innermost", "is_wrapped_by_us", "wrapper_depth"]

#: A wrapt wrapper function: (wrapped, instance, args, kwargs) -> result.
Wrapper = Callable[[Any, Any, Tuple[Any, ...], dict], Any]  # type: ignore[type-arg]

#: How many links a chain may have; deeper (or cyclic through non-identity) chains stop here.
_LIMIT = 64

# wrapt >= 2.5: the library does the bookkeeping of wrapping and unwrapping itself.
_unwrap_object: Any = getattr(wrapt, "unwrap_object", None)
_wrap_object: Any = getattr(wrapt, "wrap_object", None) if _unwrap_object is not None else None
_wrapper_chain: Any = getattr(wrapt, "wrapper_chain", None) if _unwrap_object is not None else None
_NOT_OUTERMOST: Tuple[type[BaseException], ...] = tuple(
    t
    for t in (getattr(wrapt, "WrapperNotOutermostError", None),)
    if isinstance(t, type) and issubclass(t, BaseException)
)

# Every FunctionWrapper we created and have not restored, by id -> object. Used to tell our
# wrappers from other tools' (never "has __wrapped__": other tools use wrapt too).
_OURS: dict[int, Any] = {}

_MISSING = object()


@dataclass
class _Wrap:
    owner: Any
    name: str
    original: Any  # what vars(owner)[name] was, or _MISSING when inherited
    handle: Any
    label: str


@dataclass
class PatchSet:
    """The wraps one shim installed, in order."""

    wraps: List[_Wrap] = field(default_factory=list)

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(w.label for w in self.wraps)

    def __bool__(self) -> bool:
        return bool(self.wraps)

    def apply(self, targets: Sequence[Tuple[Any, str, Wrapper]]) -> None:
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
        if _wrap_object is not None:
            # Same lookup as ours (vars() over the MRO), plus the record unwrap_object reads.
            handle = _wrap_object(owner, name, wrapt.FunctionWrapper, (wrapper,))
        else:
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
    if _unwrap_object is not None:
        try:
            # missing_ok: an attribute someone replaced outright holds nothing of ours any more.
            _unwrap_object(wrap.owner, wrap.name, wrap.handle, missing_ok=True)
            return
        except _NOT_OUTERMOST:
            # A non-wrapt wrapper (a functools.wraps closure) sits above ours: wrapt refuses to
            # splice there. Fall through to what earlier releases do: re-point its __wrapped__.
            pass
    current = vars(wrap.owner).get(wrap.name, _MISSING)
    if current is wrap.handle:
        if wrap.original is _MISSING:
            delattr(wrap.owner, wrap.name)
        else:
            setattr(wrap.owner, wrap.name, wrap.original)
        return
    if current is _MISSING:
        return
    # Somebody wrapped on top of us: find the link that points at our handle and splice us out.
    above = None
    for node in chain(current):
        if node is wrap.handle and above is not None:
            above.__wrapped__ = wrap.handle.__wrapped__
            return
        above = node
    # Our handle is no longer reachable (someone replaced the attribute outright): nothing of
    # ours is left in the call path, so there is nothing to remove.


def chain(obj: Any) -> Iterator[Any]:
    """``obj``, then each object its ``__wrapped__`` links lead to, outermost first.

    The one chain walker of the package: wrapt's own (``wrapper_chain``, 2.5+) where it exists,
    else the same walk here. Bounded and cycle-safe; a chain too deep to follow ends the walk
    (what lies beyond is not ours to judge).
    """
    if _wrapper_chain is not None:
        try:
            yield from _wrapper_chain(obj, limit=_LIMIT)
        except Exception:  # WrapperChainTooDeepError, or a broken proxy's __wrapped__
            return
        return
    seen = set()
    for _ in range(_LIMIT):
        if obj is None or id(obj) in seen:
            return
        seen.add(id(obj))
        yield obj
        try:
            obj = obj.__wrapped__
        except Exception:
            return


def innermost(obj: Any) -> Any:
    """The object at the bottom of ``obj``'s chain of ``__wrapped__`` links."""
    last = obj
    for node in chain(obj):
        last = node
    return last


def bindings(package: str, original: Any) -> Iterator[Tuple[Any, str]]:
    """Every (module, name) of ``package`` and its imported submodules that binds ``original``,
    re-exports included (for a module-level function that other modules imported by name).

    A binding another tool (a tracing agent) already wrapped is matched by what it wraps, not by
    identity: we then wrap the agent's wrapper, so calls reaching the server through it are ours too.
    """
    target = innermost(original)
    for name, module in list(sys.modules.items()):
        if module is None or not (name == package or name.startswith(package + ".")):
            continue
        for attribute, value in list(vars(module).items()):
            if value is original or (callable(value) and innermost(value) is target):
                yield module, attribute


def _is_ours(obj: Any) -> bool:
    return _OURS.get(id(obj)) is obj


def is_wrapped_by_us(obj: Any) -> bool:
    """True when ``obj`` or anything it wraps is one of our live wrappers."""
    return any(_is_ours(node) for node in chain(obj))


def wrapper_depth(obj: Any) -> int:
    """How many of our wrappers are stacked on ``obj`` (tests assert it is never above one)."""
    return sum(1 for node in chain(obj) if _is_ours(node))


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
