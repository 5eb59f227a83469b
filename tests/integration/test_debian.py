"""The Debian 12 recipe of docs/debian.md, run line by line against Debian's own packages.

``/usr/bin/python3 -m venv --system-site-packages`` with python3-uvicorn 0.17.6,
python3-hypercorn 0.13.2, python3-starlette 0.26.1, python3-wrapt 1.14.1 and python3-packaging
(``.ci/run`` installs them with apt as root; this test never does, and skips when they are
absent). The shim is installed into the venv from a wheel of this checkout without an index, so
its dependencies can only come from Debian (the package index is the one part of the recipe
the test replaces). The recipe's lines run as written, in ``bash`` with the test's own ``PATH``
(where another ``python3`` may come first, as pyenv's does) and a fresh ``HOME``: they serve a
Starlette app whose lifespan yields state, on both servers with two workers; the commands that
cannot work there (no ``uvicorn`` command; ``/usr/bin/hypercorn`` on /usr/bin/python3) say what
does.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence

import pytest
from tools.envs import ROOT, uv
from tools.releases import DEBIAN as DEBIAN_12
from tools.releases import SERVERS

from lifespan_state.check._runner import ServerProcess, free_port
from script_support import SCRIPTS

SYSTEM_PYTHON = Path("/usr/bin/python3")
#: What Debian 12 (bookworm) ships; the recipe in docs/debian.md is written against these.
DEBIAN = {
    "uvicorn": SERVERS["uvicorn"].debian,
    "hypercorn": SERVERS["hypercorn"].debian,
    "starlette": DEBIAN_12.starlette,
    "wrapt": DEBIAN_12.wrapt,
}
APP = SCRIPTS / "agent_app.py"  # a Starlette app yielding state

PACKAGES = SCRIPTS / "debian_packages.py"
DOC = ROOT / "docs" / "debian.md"


def _recipe() -> List[str]:
    """The lines of docs/debian.md's recipe (its one ``sh`` block), comments dropped."""
    text = DOC.read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


RECIPE = _recipe()
(APT, MAKE_VENV, PIP_INSTALL, ACTIVATE, *SERVE) = RECIPE


def test_the_recipe_runs_as_root_on_debians_python() -> None:
    """Containers run as root without sudo; a pyenv (or any other) python3 first on PATH would
    make a venv that cannot see Debian's packages."""
    assert APT.startswith("apt-get install ") and "sudo" not in " ".join(RECIPE)
    for package in ("python3-uvicorn", "python3-hypercorn", "python3-starlette", "python3-venv"):
        assert package in APT.split()
    assert MAKE_VENV.startswith("/usr/bin/python3 -m venv --system-site-packages ")
    assert PIP_INSTALL.endswith("pip install lifespan-state-shim") and ACTIVATE.startswith(". ")
    assert [line.split()[5] for line in SERVE] == ["uvicorn", "hypercorn"]


def _shell(home: Path) -> Dict[str, str]:
    """The user's shell before the recipe: this process's PATH (whatever python3 comes first),
    a fresh HOME, no venv active."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LIFESPAN_STATE_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["HOME"] = str(home)
    return env


def _debian_packages() -> Dict[str, Any]:
    if not SYSTEM_PYTHON.exists():
        pytest.skip("no /usr/bin/python3 (not a Debian-like system)")
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", str(PACKAGES), "versions"], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        pytest.skip(
            "/usr/bin/python3 has no ensurepip (apt-get install python3-venv; .ci/run does it as root)"
        )
    found = json.loads(done.stdout)
    wanted = {**DEBIAN, "packaging": None}
    missing = [name for name, version in wanted.items() if found[name] is None]
    wrong = [f"{n} {found[n]}" for n, v in DEBIAN.items() if found[n] is not None and found[n] != v]
    if missing or wrong:
        pytest.skip(
            "/usr/bin/python3 lacks Debian 12's packages "
            f"(missing: {', '.join(missing) or '-'}; other releases: {', '.join(wrong) or '-'}); "
            "apt-get install python3-uvicorn python3-hypercorn python3-starlette python3-wrapt "
            "python3-packaging python3-venv (.ci/run does it as root)"
        )
    return dict(found)


@pytest.fixture(scope="module")
def debian_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    _debian_packages()
    base = tmp_path_factory.mktemp("debian")
    wheels = base / "wheels"
    built = subprocess.run(
        [uv(), "build", "-q", "--wheel", "--out-dir", str(wheels), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("*.whl")
    home = base / "home"
    home.mkdir()
    # The recipe's own lines; only the package index is replaced by the wheel of this checkout.
    for line in (MAKE_VENV, PIP_INSTALL.replace("lifespan-state-shim", f"-q --no-index {wheel}")):
        done = subprocess.run(
            ["bash", "-c", line], cwd=home, env=_shell(home), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, (line, done.stdout + done.stderr)
    venv = Path(MAKE_VENV.split()[-1].replace("~", str(home), 1))
    yield venv / "bin"
    shutil.rmtree(base, ignore_errors=True)


def _env(bindir: Path, **extra: str) -> Dict[str, str]:
    """An activated venv, as a Debian user's shell would have it (/usr/bin on PATH)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LIFESPAN_STATE_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(PATH=f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin", VIRTUAL_ENV=str(bindir.parent), **extra)
    return env


def _run(argv: Sequence[str], cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _views(port: int, parent: int) -> List[Dict[str, Any]]:
    views: List[Dict[str, Any]] = []
    for i in range(300):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60 if i == 0 else 10)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 200, (response.status, body[:300])
        views.append(json.loads(body))
        if len({v["pid"] for v in views}) >= 2 and len(views) >= 8:
            break
    pids = {v["pid"] for v in views}
    assert len(pids) >= 2 and parent not in pids, views
    return views


def test_the_venv_uses_debians_packages(debian_venv: Path, tmp_path: Path) -> None:
    done = _run([str(debian_venv / "python"), str(PACKAGES), "files"], tmp_path, _env(debian_venv))
    assert done.returncode == 0, done.stderr
    for name, path in json.loads(done.stdout).items():
        assert path.startswith("/usr/lib/python3/dist-packages/"), (name, path)


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_debian_servers_serve_state_through_the_launcher(
    debian_venv: Path, tmp_path: Path, server: str
) -> None:
    shutil.copy(APP, tmp_path / "main.py")  # the recipe serves main:app
    port = free_port()
    (line,) = [line for line in SERVE if f" -m {server} " in line]
    bind = f" --port {port}" if server == "uvicorn" else f" -b 127.0.0.1:{port}"
    home = debian_venv.parents[2]  # the recipe made HOME/venvs/app/bin
    script = f"{ACTIVATE} && exec {line}{bind}"  # exec: the server is the process we stop
    with ServerProcess(
        ["bash", "-c", script], port=port, env=_shell(home), cwd=str(tmp_path), start_timeout=60
    ) as running:
        assert running.pid is not None
        views = _views(port, running.pid)
    assert all(v["state_pid"] == v["pid"] for v in views), views
    assert "Traceback" not in running.output, running.output


def test_debian_uvicorn_without_the_shim_refuses_the_app(debian_venv: Path, tmp_path: Path) -> None:
    """Negative control: Debian's uvicorn 0.17.6 alone has no lifespan state."""
    shutil.copy(APP, tmp_path / "app.py")
    done = _run(
        [str(debian_venv / "python3"), "-m", "uvicorn", "app:app", "--port", str(free_port())],
        tmp_path,
        _env(debian_venv),
    )
    assert done.returncode != 0
    assert 'The server does not support "state" in the lifespan scope.' in done.stdout + done.stderr


def test_debian_commands_that_cannot_work_say_what_does(debian_venv: Path, tmp_path: Path) -> None:
    # python3-uvicorn ships no `uvicorn` command: the advice is python3 -m uvicorn.
    done = _run(
        [str(debian_venv / "lifespan-state"), "run", "--", "uvicorn", "app:app"], tmp_path, _env(debian_venv)
    )
    assert done.returncode == 127, done.stderr
    assert "lifespan-state run -- python3 -m uvicorn app:app" in done.stderr, done.stderr
    assert "pip install" not in done.stderr, done.stderr
    # /usr/bin/hypercorn runs /usr/bin/python3, which cannot import the shim (it is in the venv).
    done = _run(
        [str(debian_venv / "lifespan-state"), "run", "--", "hypercorn", "app:app"],
        tmp_path,
        _env(debian_venv),
    )
    assert done.returncode == 127, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "/usr/bin/hypercorn runs on /usr/bin/python3" in lines[0], done.stderr
    assert "lifespan-state run -- python3 -m hypercorn app:app" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
