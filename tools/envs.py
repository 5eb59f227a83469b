"""Per-release virtual environments, built with uv and cached outside the checkout.

They live in ``${XDG_CACHE_HOME:-~/.cache}/lifespan-state-shim/venvs/<checkout>-<hash>/`` (one
directory per checkout; ``LIFESPAN_STATE_VENVS`` names another), see :data:`VENVS`.

The one way the test suites, the matrix job, the patch proofs and the benchmarks get an
environment holding one server release (plus this project, installed editable so that source
changes apply without a rebuild). The install pins old releases need on new Pythons are their
descriptors' (``tools.releases.pins``); ``pins_for`` applies them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from packaging.version import Version

from tools import releases

__all__ = [
    "ROOT",
    "EnvError",
    "EnvSpec",
    "activated_env",
    "ensure_env",
    "pins_for",
    "python_for",
    "server_needs_no_deps",
    "uv",
]

ROOT = Path(__file__).resolve().parent.parent
#: Outside the checkout by default (a user cache directory), one directory per checkout: each
#: environment has *this* checkout installed editable. ``LIFESPAN_STATE_VENVS`` overrides it.
VENVS = Path(
    os.environ.get("LIFESPAN_STATE_VENVS")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "lifespan-state-shim", "venvs")
    / f"{ROOT.name}-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]}"
)


class EnvError(RuntimeError):
    """An environment could not be built; ``reason`` is the installer's own summary."""

    def __init__(self, spec: EnvSpec, reason: str) -> None:
        super().__init__(f"{spec.server} {spec.version} on Python {spec.python}: {reason}")
        self.spec = spec
        self.reason = reason


@dataclass(frozen=True)
class EnvSpec:
    """One environment: a server release on a Python, with optional extra requirements.

    ``extra`` names the optional pieces a configuration needs ("httptools", "websockets",
    "wsproto", "uvloop", "trio", "aioquic", ...); ``pins_for`` adds the version bounds a release
    needs for each of them on ``python``.
    """

    server: str
    version: str
    python: str = "3.11"
    wrapt: Optional[str] = None  # e.g. "1.14.1", "2.*"; None: whatever the resolver picks
    extra: Tuple[str, ...] = field(default_factory=tuple)  # more requirements, e.g. ("httptools",)
    install_project: bool = True

    def requirements(self) -> List[str]:
        reqs = [f"{self.server}=={self.version}", *pins_for(self), *self.extra]
        if self.wrapt:
            reqs.append(f"wrapt=={self.wrapt}")
        return reqs

    @property
    def key(self) -> str:
        digest = hashlib.sha1(
            "\n".join(
                [
                    self.python,
                    *self.requirements(),
                    str(self.install_project),
                    f"no-deps={server_needs_no_deps(self)}",
                ]
            ).encode()
        ).hexdigest()[:10]
        return f"{self.server}-{self.version}-py{self.python}-{digest}"


def server_needs_no_deps(spec: EnvSpec) -> bool:
    """Releases whose hard requirements do not build on new Pythons are installed without their
    dependencies; ``pins_for`` lists what they need instead (``tools.releases``)."""
    return releases.installs_without_deps(spec.server, spec.version)


def pins_for(spec: EnvSpec) -> List[str]:
    """Pins an old release needs to install and run on ``spec.python`` (``tools.releases.pins``:
    each bound is the one the release itself declared, in its requirements or its ``[standard]``
    extra, or the newest version of the dependency that still has the API the release calls)."""
    pins = releases.pins(spec.server, spec.version, spec.python, spec.extra)
    if spec.wrapt is None and Version(spec.python) < Version("3.9"):
        # wrapt 2.1+ dropped Python 3.8; say so instead of relying on the resolver's fallback.
        pins.append("wrapt<2.1")
    return pins


def python_for(version: str) -> str:
    """The pyenv interpreter for ``"3.8"`` .. ``"3.13"`` (falls back to ``pythonX.Y`` on PATH)."""
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = sorted(Path(root, "versions").glob(f"{version}.*/bin/python"))
    if candidates:
        return str(candidates[-1])
    found = shutil.which(f"python{version}")
    if found:
        return found
    raise FileNotFoundError(f"no Python {version} found (pyenv versions, or python{version} on PATH)")


def uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "uv"], check=True)
    return shutil.which("uv") or str(Path(sys.executable).parent / "uv")


class _Lock:
    """An exclusive file lock, so two processes asking for one environment build it once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> _Lock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w")
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


def _summary(output: str) -> str:
    """The installer's explanation without its progress noise: the resolver's first "Because ..."
    sentence, or the build failure and its hint."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if "Because" in line:
            sentence = line[line.index("Because") :]
            return sentence.split(", we can conclude")[0][:400]
    wanted = [line for line in lines if line.startswith(("error", "hint", "\u00d7", "\u2570", "ERROR"))]
    text = " ".join((wanted or lines)[-3:])
    return text[:400] or "the installer failed without a message"


def _run_uv(spec: EnvSpec, args: List[str], env: dict) -> None:  # type: ignore[type-arg]
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EnvError(spec, _summary(proc.stderr + proc.stdout))


def _install_steps(spec: EnvSpec) -> Iterator[List[str]]:
    if server_needs_no_deps(spec):
        yield ["--no-deps", f"{spec.server}=={spec.version}"]
        rest = spec.requirements()[1:]
    else:
        rest = spec.requirements()
    if spec.install_project:
        rest += ["-e", str(ROOT)]
    if rest:
        yield rest


def ensure_env(spec: EnvSpec) -> Path:
    """Create (once) and return the venv directory for ``spec``; its Python is ``bin/python``.

    Raises ``EnvError`` (with the installer's reason) when the release cannot be installed on
    that Python with those pins. Safe to call from several processes at once.
    """
    target = VENVS / spec.key
    done = target / ".complete"
    if done.exists():
        return target
    with _Lock(VENVS / f".{spec.key}.lock"):
        if done.exists():  # built by another process while we waited
            return target
        if target.exists():
            shutil.rmtree(target)
        tool = uv()
        env = dict(os.environ, VIRTUAL_ENV=str(target))
        env.pop("PYTHONPATH", None)
        _run_uv(spec, [tool, "venv", "-q", "-p", python_for(spec.python), str(target)], env)
        steps = list(_install_steps(spec))
        try:
            for step in steps:
                _run_uv(
                    spec, [tool, "pip", "install", "--python", str(target / "bin" / "python"), *step], env
                )
        except EnvError:
            shutil.rmtree(target, ignore_errors=True)
            raise
        done.write_text("\n".join(" ".join(step) for step in steps) + "\n")
    return target


def activated_env(bindir: Path, **extra: str) -> Dict[str, str]:
    """The environment of a shell that activated the venv of ``bindir``, plus ``extra``.

    Nothing of ours leaks in from the calling process (``LIFESPAN_STATE_*``, ``PYTHON*``, another
    ``VIRTUAL_ENV``), so a server started with it behaves as a user's would.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIFESPAN_STATE_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', os.defpath)}", VIRTUAL_ENV=str(bindir.parent))
    env.update(extra)
    return env
