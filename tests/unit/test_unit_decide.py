"""Every branch of the decision pipeline (``lifespan_state._shim.decide``): table, probes, version."""

from __future__ import annotations

import sys
import types
from typing import Optional, Tuple

import pytest
from packaging.version import Version

from lifespan_state import UnsupportedServerError, _shim
from lifespan_state._integrations._descriptor import CopyProbe, Integration, Probes
from lifespan_state._versions import SUPPORTED
from unit_support import STUBBED

SHIMS = STUBBED


@pytest.fixture
def version(monkeypatch: pytest.MonkeyPatch) -> Version_:
    holder = Version_()
    monkeypatch.setattr(_shim, "running_version", holder.read)
    return holder


class Version_:
    """The running version ``decide`` reads, set by the test (None: unreadable)."""

    def __init__(self) -> None:
        self.value: Optional[str] = None

    def read(self, server: str) -> Tuple[Optional[Version], str]:
        if self.value is None:
            return None, "no readable version"
        return Version(self.value), "distribution metadata"


@pytest.mark.parametrize("server", SHIMS)
@pytest.mark.parametrize(("native", "mode"), [(True, "fix"), (False, "add")])
def test_unknown_version_is_probed(server: str, native: bool, mode: str, version: Version_) -> None:
    decision = _shim._by_table(server, native)
    assert (decision.mode, decision.version) == (mode, None) and "probed" in decision.why


@pytest.mark.parametrize("server", SHIMS)
def test_too_old_is_refused(server: str, version: Version_) -> None:
    version.value = "0.0.1"
    with pytest.raises(UnsupportedServerError, match=f">={SUPPORTED[server].minimum}"):
        _shim._by_table(server, False)


@pytest.mark.parametrize("server", SHIMS)
@pytest.mark.parametrize("native", [True, False])
def test_newer_than_tested_follows_the_probe(server: str, native: bool, version: Version_) -> None:
    version.value = "999.0"
    decision = _shim._by_table(server, native)
    assert decision.mode == (SUPPORTED[server].ranges[-1].mode if native else "add")
    assert "newer than tested" in decision.why


@pytest.mark.parametrize(
    ("server", "low", "mode"),
    [(s, r.low, r.mode) for s in SHIMS for r in SUPPORTED[s].ranges],
    ids=lambda v: str(v),
)
def test_inside_the_table(server: str, low: str, mode: str, version: Version_) -> None:
    version.value = low
    agrees = _shim._by_table(server, native=mode != "add")
    assert (agrees.mode, agrees.version) == (mode, low)
    # Metadata and code disagree: the probe wins.
    disagrees = _shim._by_table(server, native=mode == "add")
    assert disagrees.mode == ("fix" if mode == "add" else "add")
    assert "metadata says" in disagrees.why


# -- the pipeline's declared probes, on a descriptor of its own -----------------------------------


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A module of probe functions the test sets (``has_state``, ``copies``)."""
    module = types.ModuleType("pipeline_probes")
    module.has_state = lambda: True  # type: ignore[attr-defined]
    module.copies = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def _integration(monkeypatch: pytest.MonkeyPatch, *ranges: Tuple[str, str, str], copies: bool = True,
                 without_state: str = "add") -> Integration:
    integration = Integration(
        name="pipeline-server", kind="server", imports=("pipeline_server",), ranges=ranges,  # type: ignore[arg-type]
        newest_tested=ranges[-1][0], hooks="pipeline_probes:SHIM",
        probes=Probes(
            has_state="pipeline_probes:has_state",
            copies=CopyProbe("pipeline_probes:copies", native="{version} copies", fix="{version} shares")
            if copies else None,
            without_state=without_state,  # type: ignore[arg-type]
        ),
    )
    monkeypatch.setitem(SUPPORTED, integration.name, integration.support())
    return integration


@pytest.mark.parametrize(("table", "copies", "expected"), [
    ("fix", True, "native"),  # a patched build: the code copies, the table says it does not
    ("fix", None, "fix"),  # the probe cannot tell: the table stands
    ("fix", False, "fix"),
    ("native", False, "fix"),  # the table says native, the code shares one dict
    ("native", True, "native"),
])
def test_the_copies_probe_overrules_the_table(
    table: str, copies: Optional[bool], expected: str, probes: types.ModuleType, version: Version_,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    integration = _integration(monkeypatch, ("1.0", table, "the table's reason"))
    probes.copies = lambda: copies  # type: ignore[attr-defined]
    version.value = "1.0"
    decision = _shim.decide(integration)
    assert decision.mode == expected
    overruled = f"1.0 {'copies' if copies else 'shares'}"
    assert decision.why == ("the table's reason" if expected == table else overruled)


def test_the_copies_probe_has_no_say_without_state(
    probes: types.ModuleType, version: Version_, monkeypatch: pytest.MonkeyPatch
) -> None:
    integration = _integration(monkeypatch, ("1.0", "add", "none"))
    probes.has_state = lambda: False  # type: ignore[attr-defined]
    probes.copies = lambda: pytest.fail("asked the copies probe of a release without state")  # type: ignore[attr-defined]
    version.value = "1.0"
    assert _shim.decide(integration).mode == "add"


def test_a_build_without_state_is_refused_where_adding_is_beyond_a_wrap(
    probes: types.ModuleType, version: Version_, monkeypatch: pytest.MonkeyPatch
) -> None:
    integration = _integration(monkeypatch, ("1.0", "fix", "shares"), without_state="unsupported")
    probes.has_state = lambda: False  # type: ignore[attr-defined]
    version.value = "1.5"
    with pytest.raises(UnsupportedServerError, match="without lifespan state"):
        _shim.decide(integration)


def test_another_distributions_copy_is_named(
    probes: types.ModuleType, version: Version_, monkeypatch: pytest.MonkeyPatch
) -> None:
    integration = _integration(monkeypatch, ("1.0", "fix", "shares"), copies=False)
    monkeypatch.setattr(_shim, "installed_by", lambda distribution, package: "forkcorn 3.1")
    decision = _shim.decide(integration)
    assert decision.mode == "fix"
    assert decision.why.startswith("pipeline_server's code installed by forkcorn 3.1: ")
