"""Processes, load generators and machine facts for the benchmark (no measurement logic here)."""

from __future__ import annotations

import http.client
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from lifespan_state.check._runner import ServerProcess, ServerStartError, free_port

__all__ = [
    "BENCH_DIR",
    "LoadResult",
    "Server",
    "bench_env",
    "cpu_prefix",
    "ensure_tool",
    "free_port",
    "h2load",
    "load_average",
    "machine_facts",
    "median",
    "wrk",
]

BENCH_DIR = Path(__file__).resolve().parent
#: Debian package of each load generator, installed by the command when missing.
TOOLS = {"wrk": "wrk", "h2load": "nghttp2-client"}
_apt_updated = False
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def ensure_tool(name: str) -> str:
    """The path of ``name``; installs its Debian package (``apt-get``) when it is missing."""
    global _apt_updated
    found = shutil.which(name)
    if found:
        return found
    package = TOOLS[name]
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise SystemExit(
            f"`{name}` is missing and cannot be installed here: run `apt-get install -y {package}` "
            "(as root), then run the benchmark again"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        subprocess.run([apt, "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        _apt_updated = True
    subprocess.run([apt, "install", "-y", "-q", package], check=True, env=env, stdout=subprocess.DEVNULL)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"`apt-get install {package}` ran but `{name}` is still not on PATH")
    return found


def cpu_prefix(cpu: Optional[int]) -> List[str]:
    """``taskset -c N`` when pinning is on and the machine has that CPU, else nothing."""
    if cpu is None or shutil.which("taskset") is None or cpu >= (os.cpu_count() or 1):
        return []
    return ["taskset", "-c", str(cpu)]


def bench_env(extra: Dict[str, str]) -> Dict[str, str]:
    """The environment of a server or probe: the benchmark app importable, bytecode cached.

    ``PYTHONDONTWRITEBYTECODE`` is dropped so that sources compile once, as in any deployment;
    otherwise every fresh interpreter would pay for compiling wrapt, packaging and the shim.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("LIFESPAN_STATE_DISABLE", None)
    env["PYTHONPATH"] = str(BENCH_DIR)
    env.update(extra)
    return env


class Server(ServerProcess):
    """A server process serving ``benchapp:app`` on 127.0.0.1 (the kit's process harness: its own
    process group, output kept, stopped with SIGINT first); ready once ``GET /`` answers 200."""

    def __init__(self, command: Sequence[str], env: Dict[str, str], port: int, label: str) -> None:
        super().__init__(command, port=port, env=env, cwd=str(BENCH_DIR), start_timeout=30.0)
        self.label = label

    @property
    def command(self) -> List[str]:
        return self.argv

    def start(self) -> Server:
        try:
            super().start()
        except ServerStartError as exc:
            raise RuntimeError(f"{self.label}: {exc}:\n{self.tail(30)}") from None
        status = self._status("/")
        if status != 200:
            self.stop()
            raise RuntimeError(f"{self.label} answered {status} at start-up:\n{self.tail(30)}")
        return self

    def _status(self, path: str) -> int:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10.0)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def cpu_seconds(self) -> float:
        """User + system CPU time of every process of this server (workers included).

        Counted per request, it is the measure least disturbed by other jobs on the machine:
        time the server spends descheduled is not in it, while requests/s include it.
        """
        if self.process is None:
            return 0.0
        group = self.process.pid  # start_new_session: the group id is the leader's pid
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # a process that ended meanwhile
            if int(fields[2]) == group:  # field 5 of stat: process group
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / _CLOCK_TICKS

    def get(self, path: str) -> bytes:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10.0)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{self.label}: GET {path} -> {response.status}")
            return body
        finally:
            conn.close()

    def log_tail(self, lines: int = 30) -> str:
        return self.tail(lines)

    def close(self) -> None:
        self.stop()


@dataclass
class LoadResult:
    rps: float
    p99_ms: float
    requests: int
    bad: int  # non-2xx responses plus socket/stream errors


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk(port: int, connections: int, seconds: int, cpu: Optional[int], path: str = "/") -> LoadResult:
    """One ``wrk`` run (HTTP/1.1 keep-alive, one thread) against 127.0.0.1:port."""
    command = [
        *cpu_prefix(cpu),
        ensure_tool("wrk"),
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        f"http://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    count = re.search(r"(\d+) requests in", out)
    if not (rps and p99 and count):
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n_bad = int(bad.group(1)) if bad else 0
    # Read errors at the end of a run are wrk closing its own keep-alive sockets; count the rest.
    if errors:
        n_bad += int(errors.group(1)) + int(errors.group(3)) + int(errors.group(4))
    return LoadResult(
        float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)], int(count.group(1)), n_bad
    )


def h2load(
    port: int, connections: int, streams: int, seconds: int, cpu: Optional[int], path: str = "/"
) -> LoadResult:
    """One ``h2load`` run: HTTP/2 cleartext with prior knowledge, ``streams`` per connection."""
    with tempfile.NamedTemporaryFile(prefix="bench-h2load-", suffix=".log") as log:
        command = [
            *cpu_prefix(cpu),
            ensure_tool("h2load"),
            "-t1",
            f"-c{connections}",
            f"-m{streams}",
            "-D",
            str(seconds),
            f"--log-file={log.name}",
            f"http://127.0.0.1:{port}{path}",
        ]
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30).stdout
        rps = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out)
        done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        if not (rps and done and codes):
            raise RuntimeError(f"unexpected h2load output:\n{out}")
        # h2load prints no percentiles: its log has one line per request, the third column
        # being the request's time in microseconds.
        times = sorted(
            int(line.split("\t")[2])
            for line in Path(log.name).read_text().splitlines()
            if line.count("\t") >= 2
        )
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] / 1e3 if times else float("nan")
    bad = int(done.group(3)) + int(codes.group(3)) + int(codes.group(4))
    return LoadResult(float(rps.group(1)), p99, int(done.group(2)), bad)


def _first_line(command: Sequence[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unavailable"


def machine_facts() -> Dict[str, str]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    os_name = platform.platform()
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    mem = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": os_name,
        "kernel": platform.release(),
        "driver python": platform.python_version(),
        "wrk": _first_line(["wrk", "--version"]) if shutil.which("wrk") else "not installed",
        "h2load": _first_line(["h2load", "--version"]) if shutil.which("h2load") else "not installed",
    }


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
