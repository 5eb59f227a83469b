"""Per-release virtual environments, built with uv and cached under ``.venvs/``.

The one way the test suites, the matrix job, the patch proofs and the benchmarks get an
environment holding one server release (plus this project, installed editable so that source
changes apply without a rebuild). Install pins that old releases need on new Pythons live in
``pins_for`` — the facts come from RESEARCH.md.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

__all__ = ["ROOT", "EnvSpec", "ensure_env", "python_for", "uv"]

ROOT = Path(__file__).resolve().parent.parent
VENVS = Path(os.environ.get("LIFESPAN_STATE_VENVS", ROOT / ".venvs"))


@dataclass(frozen=True)
class EnvSpec:
    """One environment: a server release on a Python, with optional extra requirements."""

    server: str
    version: str
    python: str = "3.11"
    wrapt: Optional[str] = None  # e.g. "1.14.1", "2.*"; None: whatever pip picks
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
            "\n".join([self.python, *self.requirements(), str(self.install_project)]).encode()
        ).hexdigest()[:10]
        return f"{self.server}-{self.version}-py{self.python}-{digest}"


def pins_for(spec: EnvSpec) -> List[str]:
    """Pins an old release needs to install and run on ``spec.python`` (see RESEARCH.md)."""
    return []


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


def ensure_env(spec: EnvSpec) -> Path:
    """Create (once) and return the venv directory for ``spec``; its Python is ``bin/python``."""
    target = VENVS / spec.key
    done = target / ".complete"
    if done.exists():
        return target
    if target.exists():
        shutil.rmtree(target)
    VENVS.mkdir(parents=True, exist_ok=True)
    tool = uv()
    subprocess.run([tool, "venv", "-q", "-p", python_for(spec.python), str(target)], check=True)
    env = dict(os.environ, VIRTUAL_ENV=str(target))
    reqs = spec.requirements()
    if spec.install_project:
        reqs += ["-e", str(ROOT)]
    subprocess.run([tool, "pip", "install", "-q", *reqs], check=True, env=env)
    done.write_text("\n".join(reqs) + "\n")
    return target
