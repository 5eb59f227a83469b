"""``lifespan-state status`` text rows line up: every name column as wide as the longest name."""

from __future__ import annotations

import pytest

from lifespan_state._registry import ServerStatus
from lifespan_state._status_cli import _lines
from lifespan_state._versions import SUPPORTED

pytestmark = pytest.mark.unit


def test_every_row_starts_its_version_and_details_in_one_column() -> None:
    width = max(len(name) for name in SUPPORTED)
    rows = {
        name: _lines(name, ServerStatus(name, "1.2.3", True, True, "fix", ("a.b",), "why", {"m": "c.d"}),
                     width)
        for name in SUPPORTED
    }
    for name, (head, pending, reason) in rows.items():
        assert head[: width + 1] == f"{name:<{width}} " and head[width + 1 :].startswith("1.2.3 "), head
        # the lines under a row are indented to where the row's version starts
        assert pending.startswith(" " * (width + 1) + "on `import m`"), pending
        assert reason == " " * (width + 1) + "why", reason
    missing = [_lines(name, ServerStatus(name, None, False, False, None, (), ""), width)[0]
               for name in SUPPORTED]
    assert {row.index("not installed") for row in missing} == {width + 1}, missing
