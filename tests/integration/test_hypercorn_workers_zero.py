"""``hypercorn -w 0`` release by release, as docs/launcher.md states it: from 0.15.0 on it serves in
one process (so its exit status is the app's); 0.11.0-0.14.4 start no worker for it, serve
nothing and exit 0 at once. Real releases on both sides of that boundary, each in its own
environment, serving the check kit's probe app."""

from __future__ import annotations

import signal
import subprocess
from typing import Optional, Tuple

import pytest
from tools.envs import EnvSpec, activated_env, ensure_env

from lifespan_state.check._runner import HOST, free_port, wait_for_port

PROBE = "lifespan_state.check._probe:app"


def _serve(version: str, python: str, workers: str) -> Tuple[bool, Optional[int]]:
    """(whether ``hypercorn -w WORKERS`` accepted a connection, its exit status if it stopped)."""
    bindir = ensure_env(EnvSpec("hypercorn", version, python)) / "bin"
    port = free_port()
    argv = [str(bindir / "hypercorn"), "-w", workers, "-b", f"{HOST}:{port}", PROBE]
    process = subprocess.Popen(
        argv, env=activated_env(bindir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        served = wait_for_port(HOST, port, timeout=30, process=process)
        return served, process.poll()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


#: Each release on a Python it runs on (0.11.0 does not serve on 3.11).
BEFORE = [("0.11.0", "3.9"), ("0.14.4", "3.11")]
FROM = [("0.15.0", "3.11"), ("0.18.0", "3.11")]


@pytest.mark.parametrize(("version", "python"), BEFORE)
def test_before_0_15_workers_zero_serves_nothing_and_exits_0(version: str, python: str) -> None:
    assert _serve(version, python, "0") == (False, 0)
    # control: the same environment serves with the default -w 1
    assert _serve(version, python, "1") == (True, None)


@pytest.mark.parametrize(("version", "python"), FROM)
def test_from_0_15_workers_zero_serves_in_one_process(version: str, python: str) -> None:
    assert _serve(version, python, "0") == (True, None)
