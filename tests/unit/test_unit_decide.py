"""Every branch of the decision (``lifespan_state._shim.decide``): table, probe and version."""

from __future__ import annotations

from typing import Optional, Tuple

import pytest
from packaging.version import Version

from lifespan_state import UnsupportedServerError, _shim
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
    decision = _shim.decide(server, native)
    assert (decision.mode, decision.version) == (mode, None) and "probed" in decision.why


@pytest.mark.parametrize("server", SHIMS)
def test_too_old_is_refused(server: str, version: Version_) -> None:
    version.value = "0.0.1"
    with pytest.raises(UnsupportedServerError, match=f">={SUPPORTED[server].minimum}"):
        _shim.decide(server, False)


@pytest.mark.parametrize("server", SHIMS)
@pytest.mark.parametrize("native", [True, False])
def test_newer_than_tested_follows_the_probe(server: str, native: bool, version: Version_) -> None:
    version.value = "999.0"
    decision = _shim.decide(server, native)
    assert decision.mode == (SUPPORTED[server].ranges[-1].mode if native else "add")
    assert "newer than tested" in decision.why


@pytest.mark.parametrize(
    ("server", "low", "mode"),
    [(s, r.low, r.mode) for s in SHIMS for r in SUPPORTED[s].ranges],
    ids=lambda v: str(v),
)
def test_inside_the_table(server: str, low: str, mode: str, version: Version_) -> None:
    version.value = low
    agrees = _shim.decide(server, native=mode != "add")
    assert (agrees.mode, agrees.version) == (mode, low)
    # Metadata and code disagree: the probe wins.
    disagrees = _shim.decide(server, native=mode == "add")
    assert disagrees.mode == ("fix" if mode == "add" else "add")
    assert "metadata says" in disagrees.why
