"""Descriptors as data: each in-tree integration's ``integration.toml``, built into its records.

The TOML files are what maintainers write (comments and all). They are read at run time through
``_descriptors.json``, generated from them by ``python -m lifespan_state._integrations._load``
and kept equal to them by a unit test: ``tomllib`` is Python 3.11+, and reading a descriptor must
work on every Python the shim supports without another runtime dependency.

:func:`build` turns a parsed table into the typed records of ``_descriptor``, ``_matrix`` and
``_tools``, following their annotations: a table is a record (its keys are the record's fields;
a field left out takes its default), an array is a tuple (a frozenset where the field is one), a
``Config`` is an array of its three labels. A key the record does not have, or a value of the
wrong type, is an error naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from pathlib import Path
from typing import Any, Dict, Literal, Mapping, Union, get_args, get_origin, get_type_hints

from . import _descriptor, _matrix, _tools

__all__ = ["DescriptorError", "build", "descriptor", "generated", "read_toml", "render_json"]

_HERE = Path(__file__).resolve().parent
#: The generated file every Python reads (``render_json`` writes it).
JSON = _HERE / "_descriptors.json"
#: A descriptor's file name in its integration's folder.
TOML = "integration.toml"

# The names the records' string annotations use (``_descriptor`` imports the others only for
# type checking, so that reading it stays cheap).
_NAMES: Dict[str, Any] = {**vars(_matrix), **vars(_tools), **vars(_descriptor)}


_SCALARS: Dict[Any, str] = {str: "a string", int: "an integer", bool: "a boolean"}


class DescriptorError(ValueError):
    """A descriptor's data does not fit its records; the message names the file and the key."""


def descriptor(package: str) -> _descriptor.Integration:
    """The :class:`Integration` of the in-tree integration ``package`` (its ``__name__``)."""
    folder = package.rpartition(".")[2]
    where = f"{folder}/{TOML}"
    try:
        data = generated()[folder]
    except KeyError:
        raise DescriptorError(f"{where}: not in {JSON.name}; run python -m "
                              "lifespan_state._integrations._load") from None
    built = build(_descriptor.Integration, {**data, "package": package}, where)
    assert isinstance(built, _descriptor.Integration)
    return built


@functools.lru_cache(maxsize=None)
def generated() -> Mapping[str, Any]:
    """``_descriptors.json``: every in-tree descriptor's data, by folder."""
    with JSON.open(encoding="utf-8") as file:
        found: Mapping[str, Any] = json.load(file)
    return found


def read_toml() -> Dict[str, Any]:
    """Every ``*/integration.toml`` of this package, parsed, by folder (Python 3.11+ or tomli)."""
    if sys.version_info >= (3, 11):
        import tomllib as toml
    else:
        try:
            import tomli as toml  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise DescriptorError("reading integration.toml needs Python 3.11+ or the tomli "
                                  "package (pip install tomli)") from None
    found: Dict[str, Any] = {}
    for path in sorted(_HERE.glob(f"*/{TOML}")):
        try:
            found[path.parent.name] = toml.loads(path.read_text(encoding="utf-8"))
        except toml.TOMLDecodeError as exc:
            raise DescriptorError(f"{path.parent.name}/{TOML}: {exc}") from None
    return found


def render_json(data: Mapping[str, Any]) -> str:
    """The text of ``_descriptors.json`` for the parsed descriptors."""
    header = {"//": f"generated from */{TOML} by python -m lifespan_state._integrations._load: do not edit"}
    return json.dumps({**header, **data}, indent=1, ensure_ascii=False) + "\n"


def build(kind: Any, value: Any, where: str) -> Any:
    """``value`` (parsed TOML or JSON) as an instance of the annotation ``kind``."""
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _record(kind, value, where)
    if isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields"):
        fields = _hints(kind)
        items = _array(value, where, len(fields))
        return kind(*(build(hint, item, f"{where}[{n}]") for n, (hint, item)
                      in enumerate(zip(fields.values(), items))))
    origin, args = get_origin(kind), get_args(kind)
    if origin is Union:
        inner = [arg for arg in args if arg is not type(None)]
        return build(inner[0], value, where)
    if origin is Literal:
        if value not in args:
            raise DescriptorError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(build(args[0], item, f"{where}[{n}]") for n, item in enumerate(_array(value, where)))
        items = _array(value, where, len(args))
        return tuple(build(arg, item, f"{where}[{n}]") for n, (arg, item) in enumerate(zip(args, items)))
    if origin is frozenset:
        return frozenset(build(args[0], item, f"{where}[{n}]") for n, item in enumerate(_array(value, where)))
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, dict):
            raise DescriptorError(f"{where}: a table is wanted, not {value!r}")
        return {key: build(args[1], item, f"{where}.{key}") for key, item in value.items()}
    if kind in _SCALARS and type(value) is kind:  # a bool is no int here
        return value
    wanted = _SCALARS.get(kind, f"a {getattr(kind, '__name__', kind)}")
    raise DescriptorError(f"{where}: {wanted} is wanted, not {value!r}")


def _record(kind: Any, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise DescriptorError(f"{where}: a table is wanted, not {value!r}")
    fields = _hints(kind)
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise DescriptorError(f"{where}: {kind.__name__} has no field {unknown[0]!r} "
                              f"(it has {', '.join(fields)})")
    missing = [f.name for f in dataclasses.fields(kind)
               if f.name not in value and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise DescriptorError(f"{where}: {kind.__name__} needs {', '.join(missing)}")
    return kind(**{key: build(fields[key], item, f"{where}.{key}") for key, item in value.items()})


def _array(value: Any, where: str, length: int = -1) -> list:  # type: ignore[type-arg]
    if not isinstance(value, list) or (length >= 0 and len(value) != length):
        wanted = "an array" if length < 0 else f"an array of {length}"
        raise DescriptorError(f"{where}: {wanted} is wanted, not {value!r}")
    return value


@functools.lru_cache(maxsize=None)
def _hints(kind: Any) -> Dict[str, Any]:
    hints = get_type_hints(kind, localns=_NAMES)
    if dataclasses.is_dataclass(kind):
        return {f.name: hints[f.name] for f in dataclasses.fields(kind)}
    return {name: hints[name] for name in kind._fields}
