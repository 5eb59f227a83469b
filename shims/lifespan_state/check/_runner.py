"""Start a server command on a free loopback port, wait until it accepts, stop it, keep its output.

:class:`ServerProcess` runs any argv (always with this interpreter: ``sys.executable -m NAME``)
in its own session, with its output in a temporary file (a pipe nobody reads could block the
server). ``stop()`` sends SIGINT (most servers' graceful shutdown, which runs
``lifespan.shutdown``; ``stop_signal`` names another: a recipe's own), then SIGTERM, then
SIGKILL to the whole process group, each after a bounded wait, so no child worker outlives a check.
:func:`http_get` is one request on a fresh connection, for tests and tools that only need an answer.
:func:`json_line` runs one of the kit's modules (the S9 driver, a harness arm, the capabilities
probe) in a subprocess of this interpreter and reads the JSON line it answers with.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from ._h1 import HTTP1Connection, HTTPResponse

__all__ = ["ServerProcess", "ServerStartError", "free_port", "http_get", "json_line", "last_line",
           "wait_for_port"]

HOST = "127.0.0.1"


class ServerStartError(RuntimeError):
    """The server exited or did not accept connections in time; ``output`` holds its log."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, process: Optional[subprocess.Popen] = None) -> bool:  # type: ignore[type-arg]
    """True once ``host:port`` accepts a TCP connection; False on timeout or when ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class ServerProcess:
    """One server subprocess. Use as a context manager, or call ``start()`` and ``stop()``."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        port: int,
        host: str = HOST,
        env: Optional[Dict[str, str]] = None,
        start_timeout: float = 20.0,
        stop_timeout: float = 10.0,
        cwd: Optional[str] = None,
        stop_signal: int = signal.SIGINT,
    ) -> None:
        self.argv: List[str] = list(argv)
        self.host = host
        self.port = port
        self.env = dict(os.environ if env is None else env)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.process: Optional[subprocess.Popen] = None  # type: ignore[type-arg]
        self.returncode: Optional[int] = None
        self._log = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 - closed in stop()
        self._output: Optional[str] = None

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process is not None else None

    def start(self) -> ServerProcess:
        """Start the command and wait (bounded) until the port accepts connections."""
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # our own process group: stop() can reach every worker
        )
        if not wait_for_port(self.host, self.port, self.start_timeout, self.process):
            exited = self.process.poll() is not None
            self.stop()
            what = f"exited with status {self.returncode}" if exited else (
                f"did not accept connections on {self.host}:{self.port} within {self.start_timeout:g} s"
            )
            raise ServerStartError(f"server {what}", self.output)
        return self

    def stop(self) -> Optional[int]:
        """Stop the server (SIGINT, SIGTERM, SIGKILL, each bounded); return its exit status."""
        process = self.process
        if process is None or self._output is not None:
            return self.returncode
        try:
            for sig, wait in ((self.stop_signal, self.stop_timeout), (signal.SIGTERM, 5.0)):
                if process.poll() is not None:
                    break
                try:
                    process.send_signal(sig)
                    process.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    continue
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
        finally:
            self.returncode = process.poll()
            # Workers the server spawned share its process group; none may outlive the check.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            self._log.seek(0)
            self._output = self._log.read().decode("utf-8", "replace")
            self._log.close()
        return self.returncode

    @property
    def output(self) -> str:
        """Everything the server printed (complete once stopped)."""
        if self._output is not None:  # stopped: the log file is closed
            return self._output
        position = self._log.tell()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        self._log.seek(position)
        return text

    def tail(self, lines: int = 12) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerProcess {' '.join(self.argv)!r} port={self.port} pid={self.pid}>"


def last_line(text: str) -> str:
    """The last line of ``text`` that is not blank (of a traceback: the exception), or "no output"."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def json_line(args: Sequence[str], env: Optional[Dict[str, str]], wait: float,
              fail: Callable[[str], Exception]) -> Dict[str, Any]:
    """The last JSON line ``python -m ARGS`` prints (this interpreter, environment ``env``); when it
    prints none, ``fail(why)`` is raised (why: its exit status and the last line of its stderr)."""
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env,
                          timeout=wait, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise fail(f"exited {done.returncode}: {last_line(done.stderr)}")
    data: Dict[str, Any] = json.loads(lines[-1])
    return data


def http_get(port: int, target: str = "/", *, timeout: float = 10.0) -> HTTPResponse:
    """``GET target`` on a fresh HTTP/1.1 connection to ``127.0.0.1:port``; the whole response
    (``status``, ``headers``, ``body``, ``json()``). Raises ``OSError``/``ProtocolError``."""
    with HTTP1Connection(HOST, port, timeout=timeout) as conn:
        return conn.get(target)
