"""``--tls`` on a server whose recipe has no TLS: one clear line and exit 2 before any server
starts (not a TLS handshake timeout in every check)."""

from __future__ import annotations

import subprocess
import sys


def test_tls_on_a_server_without_tls_is_refused_at_once() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lifespan_state", "check", "--server", "daphne", "--tls"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "lifespan-state check: daphne has no TLS in the check kit's recipe: run it without --tls"
    ]
    assert done.stdout == ""
