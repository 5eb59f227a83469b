"""Integrations: one package per server or test harness (a descriptor plus its hook code).

``_index.py`` is the generated table of this package's integrations that the registry reads at
activation (cheap: plain data, no descriptor imported). :func:`entry_points` finds the
integrations other distributions add (entry-point group ``lifespan_state.integrations``,
``NAME = module:INTEGRATION``) without importing :mod:`importlib.metadata`: activation runs in
every process that imports ``lifespan_state.auto``, most of which have none.
"""

from __future__ import annotations

import os
import sys

MYPY = False
if MYPY:  # pragma: no cover
    from typing import List, Tuple

__all__ = ["GROUP", "entry_points"]

#: The entry-point group of integrations from other distributions.
GROUP = "lifespan_state.integrations"


def entry_points() -> List[Tuple[str, str]]:
    """``(name, "module:attribute")`` of every entry point in :data:`GROUP` on ``sys.path``.

    Reads the ``entry_points.txt`` of each distribution's metadata directory, first one of a name
    wins, as :mod:`importlib.metadata` orders them.
    """
    found: List[Tuple[str, str]] = []
    seen = set()
    header = f"[{GROUP}]"
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry or ".", name, "entry_points.txt"), encoding="utf-8") as file:
                    text = file.read()
            except OSError:
                continue
            if header not in text:
                continue
            for key, value in _section(text, header):
                if key not in seen:
                    seen.add(key)
                    found.append((key, value))
    return found


def _section(text: str, header: str) -> List[Tuple[str, str]]:
    pairs: List[Tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            inside = line == header
        elif inside and "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs
