"""Feature probes that read a server's compiled code instead of its version number.

The field shims decide "does this release hand each request its own copy?" from what the code
does, so a distribution's patched build or a vendored copy is judged by its behaviour, not by the
version its metadata claims. What they look at is the order of attribute loads: ``self.worker.state
.copy()`` compiles to the loads ``worker``, ``state``, ``copy`` in a row on every CPython from 3.8
to 3.13 (``LOAD_ATTR`` or ``LOAD_METHOD``, whose ``argval`` is the name either way).
"""

from __future__ import annotations

import dis
import inspect
from types import CodeType
from typing import Any, Iterator, List, Optional, Set, Tuple

__all__ = ["attribute_chains", "code_of", "names"]

_ATTRIBUTE_LOADS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})


def code_of(function: Any) -> Optional[CodeType]:
    """The code object of a function or method (through wrappers); None for anything else."""
    function = inspect.unwrap(function)
    function = getattr(function, "__func__", function)
    code = getattr(function, "__code__", None)
    return code if isinstance(code, CodeType) else None


def _codes(code: CodeType) -> Iterator[CodeType]:
    """``code`` and every function compiled inside it (closures, comprehensions), in order."""
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _codes(const)


def attribute_chains(function: Any) -> List[Tuple[str, ...]]:
    """Every run of consecutive attribute loads in ``function``, in code order.

    ``scope["state"] = self.worker.state.copy()`` gives ``("worker", "state", "copy")``; an
    empty list means the function could not be read (not a Python function).
    """
    code = code_of(function)
    if code is None:
        return []
    chains: List[Tuple[str, ...]] = []
    for each in _codes(code):
        current: List[str] = []
        for instruction in dis.get_instructions(each):
            if instruction.opname in _ATTRIBUTE_LOADS and isinstance(instruction.argval, str):
                current.append(instruction.argval)
                continue
            if current:
                chains.append(tuple(current))
                current = []
        if current:
            chains.append(tuple(current))
    return chains


def names(function: Any) -> Set[str]:
    """Every attribute or global name ``function`` (nested functions included) loads or stores."""
    code = code_of(function)
    if code is None:
        return set()
    found: Set[str] = set()
    for each in _codes(code):
        found.update(each.co_names)
    return found
