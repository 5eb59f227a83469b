"""The launcher's bootstrap in real processes: lazy, chained, defensive, once per process.

Every test runs ``lifespan-state run -- ...`` from a per-release environment and lets the
launched Python report what it sees.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, Sequence

import pytest
from tools.envs import EnvSpec, ensure_env, python_for
from tools.envs import activated_env as _env
from tools.releases import SERVERS

from lifespan_state import SUPPORTED
from script_support import SCRIPTS

#: Every server the shim supports: what a launched process has requested once activated.
ALL_SERVERS = sorted(SUPPORTED)

UVICORN_OLD = EnvSpec("uvicorn", SERVERS["uvicorn"].debian, extra=("gunicorn==23.0.0",))

#: What a launched process finds (tests/scripts/bootstrap_report.py MODE ...).
REPORT = str(SCRIPTS / "bootstrap_report.py")

USER_SITE = """
import builtins
builtins.USER_SITE_RUNS = getattr(builtins, "USER_SITE_RUNS", 0) + 1  # per process, not inherited
USER_MARK = "the user's own sitecustomize"
"""


@pytest.fixture(scope="module")
def bindir() -> Path:
    return ensure_env(UVICORN_OLD) / "bin"


def launch(bindir: Path, argv: Sequence[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bindir / "lifespan-state"), "run", "--", *argv],
        cwd=cwd,
        env=_env(bindir, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def report(done: subprocess.CompletedProcess[str]) -> Dict[str, Any]:
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_activates_lazily_without_importing_a_server(bindir: Path, tmp_path: Path) -> None:
    out = report(launch(bindir, ["python", REPORT, "report", "--import"], tmp_path))
    # Nothing imported up front: a process that never imports a server pays for nothing.
    assert out["imported_at_start"] == [], out
    assert out["requested"] == ALL_SERVERS
    assert out["uvicorn"]["mode"] == "add" and out["uvicorn"]["patched"], out
    assert out["pythonpath"].split(os.pathsep)[0].endswith(os.path.join("lifespan_state", "_bootstrap"))


def test_disable_env_switches_activation_off(bindir: Path, tmp_path: Path) -> None:
    done = launch(bindir, ["python", REPORT, "report", "--import"], tmp_path, LIFESPAN_STATE_DISABLE="1")
    out = report(done)
    assert out["requested"] == [] and out["uvicorn"]["patched"] == [], out


def test_chains_the_users_sitecustomize_once(bindir: Path, tmp_path: Path) -> None:
    user = tmp_path / "usersite"
    user.mkdir()
    (user / "sitecustomize.py").write_text(USER_SITE)
    # Running our bootstrap module a second time in the process must change nothing.
    argv = ["python", REPORT, "report", "--again", "--import"]
    out = report(launch(bindir, argv, tmp_path, PYTHONPATH=str(user)))
    assert out["user_mark"] == "the user's own sitecustomize", out
    assert out["sitecustomize"] == str(user / "sitecustomize.py"), out
    assert out["user_runs"] == 1, out
    assert out["requested"] == ALL_SERVERS, out
    entries = out["pythonpath"].split(os.pathsep)
    assert len(entries) == 2 and entries[1] == str(user), entries


def test_a_failing_user_sitecustomize_is_reported_not_fatal(bindir: Path, tmp_path: Path) -> None:
    user = tmp_path / "usersite"
    user.mkdir()
    (user / "sitecustomize.py").write_text("raise RuntimeError('boom')\n")
    done = launch(bindir, ["python", REPORT, "report", "--import"], tmp_path, PYTHONPATH=str(user))
    out = report(done)
    assert "lifespan-state: warning: error in" in done.stderr and "RuntimeError: boom" in done.stderr
    assert out["requested"] == ALL_SERVERS, out


def test_every_python_process_below_is_active(bindir: Path, tmp_path: Path) -> None:
    """A grandchild started by a child (as workers and reload children are) runs the bootstrap."""
    out = report(launch(bindir, ["python", REPORT, "child"], tmp_path))
    assert out["requested"] == ALL_SERVERS, out


def test_launcher_under_itself_puts_the_bootstrap_once(bindir: Path, tmp_path: Path) -> None:
    nested = [str(bindir / "lifespan-state"), "run", "--", "python", REPORT, "report"]
    out = report(launch(bindir, nested, tmp_path))
    entries = [e for e in out["pythonpath"].split(os.pathsep) if e]
    assert len(entries) == 1 and entries[0].endswith("_bootstrap"), entries


def test_a_python_without_the_package_gets_a_warning_and_runs(bindir: Path, tmp_path: Path) -> None:
    """A command on another interpreter (here a bare pyenv Python) still runs; when it imports a
    server the shim says why it is not active there."""
    try:
        bare = python_for("3.12")
    except FileNotFoundError:
        pytest.skip("no second Python on this machine")
    has_it = subprocess.run([bare, "-c", "import lifespan_state"], capture_output=True, timeout=60)
    if has_it.returncode == 0:
        pytest.skip(f"{bare} has lifespan_state installed")
    done = launch(bindir, [bare, REPORT, "try-import"], tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ran", done.stderr
    warning = "lifespan-state: warning: the shim is not active in this process: cannot import"
    assert warning in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_code_that_imports_the_package_first_sees_it_active_and_can_switch_it_off(
    bindir: Path, tmp_path: Path
) -> None:
    out = report(launch(bindir, ["python", REPORT, "package-first"], tmp_path))
    # Active as soon as the package is imported; an explicit deactivate() is not undone by the
    # server import that follows; the package keeps its own loader.
    assert out == {"active_before": True, "after": [], "loader": "SourceFileLoader"}, out


def test_a_mere_look_up_of_the_package_keeps_the_trigger(bindir: Path, tmp_path: Path) -> None:
    assert report(launch(bindir, ["python", REPORT, "look-up"], tmp_path)) == {"found": True, "patched": True}


@pytest.mark.parametrize("rewrite", ["replaced", "extended"])
def test_pythonpath_rewritten_before_the_server_import_is_told(
    bindir: Path, tmp_path: Path, rewrite: str
) -> None:
    """A program that replaces PYTHONPATH before it imports a server would start its workers
    without the bootstrap: one warning says so. Extending PYTHONPATH is fine (negative control)."""
    done = launch(bindir, ["python", REPORT, "rewrite", rewrite], tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ran", done.stderr
    warning = "lifespan-state: warning: PYTHONPATH was rewritten in this process before `import uvicorn`"
    if rewrite == "replaced":
        assert done.stderr.count(warning) == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    else:
        assert done.stderr == "", done.stderr


def test_a_bootstrap_that_puts_itself_first_does_not_take_the_children(bindir: Path, tmp_path: Path) -> None:
    """What opentelemetry-instrument does, reduced to our own logic: another sitecustomize, run by
    ours, that runs no later one and moves its directory first on PYTHONPATH; then a command that
    also puts it first right before it execs. Children and exec'd Pythons still get the shim."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text(
        "import os\n"
        "here = os.path.dirname(os.path.abspath(__file__))\n"
        "rest = [e for e in os.environ.get('PYTHONPATH', '').split(os.pathsep) if e and e != here]\n"
        "os.environ['PYTHONPATH'] = os.pathsep.join([here, *rest])\n"
    )
    for argv in (["python", REPORT, "child"], ["python", REPORT, "exec-first", str(other)]):
        out = report(launch(bindir, argv, tmp_path, PYTHONPATH=str(other)))
        assert out["requested"] == ALL_SERVERS, out
        first = out["pythonpath"].split(os.pathsep)[0]
        assert first.endswith("_bootstrap"), out
