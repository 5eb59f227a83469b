"""docs/field.md's columns are the descriptors' (``field_page``), without running a server.

``tests/matrix/test_field_page.py`` checks the page against its stored results; these only say that
a descriptor that gains, loses or bumps its column leaves the committed page stale.
"""

from __future__ import annotations

import tools.field as field

from script_support import ROOT


def test_the_page_has_one_column_per_descriptor_column() -> None:
    labels = [field._label(column) for column in field.COLUMNS]
    headers = [line for line in (ROOT / "docs" / "field.md").read_text().splitlines()
               if line.startswith("| check |")]
    # Natively, with the shim, with the middleware only: each table has every column.
    assert headers == ["| check | " + " | ".join(labels) + " |"] * 3


def test_a_column_is_keyed_by_its_labels_first_word() -> None:
    # --check reads a column's key back from its label (field.main's stale_lines).
    for column in field.COLUMNS:
        assert field._label(column).split()[0] == column


def test_a_harness_column_waits_for_its_kit() -> None:
    # A harness descriptor with a field_page gets its column once it has a harness (the kit runs it).
    from lifespan_state._integrations._load import integrations

    for i in integrations():
        if i.kind == "harness" and i.field_page is not None:
            assert (i.name in field.COLUMNS) == (i.harness is not None), i.name


def test_every_column_names_a_target_the_kit_knows() -> None:
    from lifespan_state.check._harness_checks import HARNESSES
    from lifespan_state.check._recipes import RECIPES

    for column in field.COLUMNS.values():
        flag, name = column.target[0], column.target[1]
        if flag == "--harness":
            assert name in HARNESSES, column.key
        elif flag == "--server":
            assert name in RECIPES, column.key
        else:
            assert flag == "--command", column.key
