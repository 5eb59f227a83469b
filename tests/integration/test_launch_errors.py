"""Bad input gets one clear line and a non-zero exit; activation that comes too late is told.

Real processes throughout: the factory is loaded by a real uvicorn/hypercorn, the launcher is the
installed ``lifespan-state`` script of a per-release environment, and the too-late warning is
provoked in a real uvicorn run.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest
from tools.envs import EnvSpec, ensure_env, python_for
from tools.envs import activated_env as _env
from tools.releases import SERVERS

import lifespan_state
from lifespan_state.check._runner import free_port
from script_support import SCRIPTS

UVICORN_OLD = EnvSpec("uvicorn", SERVERS["uvicorn"].debian, extra=("gunicorn==23.0.0",))
HYPERCORN_16 = EnvSpec("hypercorn", SERVERS["hypercorn"].last_stateless)
HYPERCORN_16_TRIO = EnvSpec("hypercorn", SERVERS["hypercorn"].last_stateless, extra=("trio",))

APPS = {
    "plain_app.py": "from lifespan_state.check._probe import app  # noqa: F401\nNUMBER = 42\n",
    "bad_factory.py": (
        "def make():\n    return 'not an app'\n\n\n"
        "def make_app():\n    from lifespan_state.check._probe import app\n\n    return app\n"
    ),
    "broken_app.py": "import this_dependency_is_missing  # noqa: F401\n",
}


def _run(
    argv: Sequence[str], cwd: Path, env: Dict[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture()
def appdir(tmp_path: Path) -> Path:
    for name, text in APPS.items():
        (tmp_path / name).write_text(text)
    return tmp_path


FACTORY_CASES = [
    (None, "LIFESPAN_STATE_APP is not set"),
    ("plain_app", "LIFESPAN_STATE_APP='plain_app' is not of the form module:attribute"),
    ("plain app:app", "is not of the form module:attribute"),
    ("nosuchmodule:app", "module 'nosuchmodule' not found"),
    ("plain_app:nope", "module 'plain_app' has no attribute 'nope'"),
    ("plain_app:NUMBER", "is 42 (type int), not an ASGI application"),
    ("bad_factory:make", "returned 'not an app' (type str), not an ASGI application"),
    ("lifespan_state.factory:create_app", "names the lifespan-state factory itself"),
]


@pytest.mark.parametrize(("value", "message"), FACTORY_CASES)
def test_factory_bad_input_under_uvicorn(appdir: Path, value: str, message: str) -> None:
    bindir = ensure_env(UVICORN_OLD) / "bin"
    env = _env(bindir) if value is None else _env(bindir, LIFESPAN_STATE_APP=value)
    argv = ["uvicorn", "lifespan_state.factory:create_app", "--factory", "--port", "0"]
    done = _run(argv, appdir, env)
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.startswith("lifespan-state: error: ") and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_factory_keeps_the_users_own_import_error(appdir: Path) -> None:
    """An import error *inside* the user's module is theirs: its traceback is kept."""
    bindir = ensure_env(UVICORN_OLD) / "bin"
    env = _env(bindir, LIFESPAN_STATE_APP="broken_app:app")
    done = _run(["uvicorn", "lifespan_state.factory:create_app", "--factory", "--port", "0"], appdir, env)
    assert done.returncode != 0
    assert "No module named 'this_dependency_is_missing'" in done.stderr, done.stderr
    assert "lifespan-state: error" not in done.stderr


def test_factory_bad_input_under_hypercorn(appdir: Path) -> None:
    # -w 0 serves in the main process, so its exit status is the factory's. (With -w 1+ the
    # hypercorn 0.16 parent exits 0 whatever its worker did, its own import errors included.)
    bindir = ensure_env(HYPERCORN_16) / "bin"
    env = _env(bindir, LIFESPAN_STATE_APP="plain_app:nope")
    argv = ["hypercorn", "-w", "0", "-b", "127.0.0.1:0", "lifespan_state.factory:create_app()"]
    done = _run(argv, appdir, env)
    assert done.returncode == 1, (done.returncode, done.stderr)
    expected = "LIFESPAN_STATE_APP='plain_app:nope': module 'plain_app' has no attribute 'nope'"
    assert f"lifespan-state: error: {expected}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


HYPERCORN_13 = EnvSpec("hypercorn", SERVERS["hypercorn"].debian)
FACTORY = "lifespan_state.factory:create_app"


@pytest.mark.parametrize(
    ("spec", "argv", "status"),
    [
        # 0.13.2 takes a plain function for an ASGI2 app: the lifespan scope is the first call.
        (HYPERCORN_13, [], 1),
        # 0.16.0 takes it for a WSGI app: the first request is the first call. With -w 0 the
        # process exit status is ours; with workers (the default -w 1) hypercorn 0.16's parent
        # exits 0 whatever its worker did (its own import errors too) — docs/launcher.md says so.
        (HYPERCORN_16, ["-w", "0"], 1),
        (HYPERCORN_16, [], 0),
    ],
)
def test_factory_served_without_the_call(appdir: Path, spec: EnvSpec, argv: List[str], status: int) -> None:
    """``hypercorn "lifespan_state.factory:create_app"`` (no ``()``): one line, the server stops."""
    bindir = ensure_env(spec) / "bin"
    port = free_port()
    env = _env(bindir, LIFESPAN_STATE_APP="plain_app:app")
    command = [
        str(bindir / "hypercorn"),
        *argv,
        "-b",
        f"127.0.0.1:{port}",
        "lifespan_state.factory:create_app",
    ]
    proc = subprocess.Popen(
        command, cwd=appdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            with suppress(OSError, http.client.HTTPException):  # the request that is the first call
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/")
                conn.getresponse().read()
            time.sleep(0.2)
        err = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status, (proc.returncode, err)
    expected = "lifespan-state: error: lifespan_state.factory:create_app is being served as the application"
    assert err.count(expected) == 1, err
    assert 'hypercorn "lifespan_state.factory:create_app()"' in err or "create_app()" in err, err
    assert "Traceback" not in err and "TypeError" not in err, err


def test_lazy_attribute_bad_input(appdir: Path) -> None:
    bindir = ensure_env(UVICORN_OLD) / "bin"
    done = _run(["uvicorn", "lifespan_state.factory:app", "--port", "0"], appdir, _env(bindir))
    assert done.returncode == 1 and "LIFESPAN_STATE_APP is not set" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


LAUNCHER_CASES: List[tuple] = [  # type: ignore[type-arg]
    ([], 2, "lifespan-state run: error: no command given"),
    (["--"], 2, "lifespan-state run: error: no command given"),
    (["--workers", "2"], 2, "unknown option '--workers'; put the command after `--`"),
    (["--", "no-such-command-xyz"], 127, "command not found: 'no-such-command-xyz'"),
    (["--", "./not-here.sh"], 127, "command not found: './not-here.sh'"),
    (["--", "hypercorn", "app:app"], 127, "hypercorn is not installed here (no `hypercorn` on PATH)"),
]


@pytest.mark.parametrize(("args", "status", "message"), LAUNCHER_CASES)
def test_launcher_bad_input(appdir: Path, args: List[str], status: int, message: str) -> None:
    bindir = ensure_env(UVICORN_OLD) / "bin"  # has uvicorn and gunicorn, not hypercorn
    # PATH holds the environment and an empty directory only: a system-wide hypercorn
    # (Debian's /usr/bin/hypercorn) must not be found here; that case has a test of its own.
    empty = appdir / "empty-bin"
    empty.mkdir()
    env = _env(bindir, PATH=f"{bindir}{os.pathsep}{empty}")
    done = _run([str(bindir / "lifespan-state"), "run", *args], appdir, env)
    assert done.returncode == status, (done.returncode, done.stderr)
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def _bare_python() -> str:
    """A Python that cannot import lifespan_state (a pyenv interpreter nothing was installed into)."""
    try:
        bare = python_for("3.12")
    except FileNotFoundError:
        pytest.skip("no second Python on this machine")
    if subprocess.run([bare, "-c", "import lifespan_state"], capture_output=True, timeout=60).returncode == 0:
        pytest.skip(f"{bare} has lifespan_state installed")
    return bare


def _check_foreign_server_message(done: subprocess.CompletedProcess[str], script: str, python: str) -> None:
    assert done.returncode == 127, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lifespan-state run: error: "), done.stderr
    assert f"{script} runs on {python}, which cannot import lifespan_state" in lines[0], lines[0]
    assert "lifespan-state run -- python3 -m hypercorn app:app -w 2" in lines[0], lines[0]
    assert done.stdout == "" and "Traceback" not in done.stderr, done.stderr


def test_launcher_server_script_on_another_interpreter(appdir: Path) -> None:
    """A ``hypercorn`` script whose shebang names a Python without lifespan_state (what Debian's
    /usr/bin/hypercorn is for a venv): one line naming both interpreters and the command that
    works, exit 127, and the server never starts."""
    bindir = ensure_env(UVICORN_OLD) / "bin"
    bare = _bare_python()
    other = appdir / "other-bin"
    other.mkdir()
    script = other / "hypercorn"
    script.write_text(f"#!{bare}\nopen('started', 'w').close()\n")
    script.chmod(0o755)
    env = _env(bindir, PATH=f"{bindir}{os.pathsep}{other}")
    done = _run([str(bindir / "lifespan-state"), "run", "--", "hypercorn", "app:app", "-w", "2"], appdir, env)
    _check_foreign_server_message(done, str(script), bare)
    assert str(bindir / "python") in done.stderr and "pip install hypercorn" in done.stderr, done.stderr
    assert not (appdir / "started").exists()


def test_launcher_other_script_on_another_interpreter_runs_with_a_warning(appdir: Path) -> None:
    """Not a server: it may start one on another Python, so it runs, with one warning line."""
    bindir = ensure_env(UVICORN_OLD) / "bin"
    bare = _bare_python()
    script = appdir / "tool"
    script.write_text(f"#!/usr/bin/env {Path(bare).name}\nprint('ran')\n")
    script.chmod(0o755)
    # The script's `env` finds the bare Python first on PATH.
    env = _env(bindir, PATH=f"{Path(bare).parent}{os.pathsep}{bindir}{os.pathsep}/usr/bin:/bin")
    done = _run([str(bindir / "lifespan-state"), "run", "--", str(script)], appdir, env)
    assert done.returncode == 0 and done.stdout.strip() == "ran", done.stderr
    assert done.stderr.startswith(f"lifespan-state run: warning: {script} runs on "), done.stderr
    assert "cannot import lifespan_state" in done.stderr


DEBIAN_HYPERCORN_SCRIPT = Path("/usr/bin/hypercorn")


def test_launcher_debian_hypercorn_from_a_venv_without_hypercorn(appdir: Path) -> None:
    """The issue's case: Debian's python3-hypercorn on PATH, a venv without hypercorn."""
    if not DEBIAN_HYPERCORN_SCRIPT.exists():
        pytest.skip("Debian's python3-hypercorn is not installed (no /usr/bin/hypercorn)")
    bindir = ensure_env(UVICORN_OLD) / "bin"
    env = _env(bindir, PATH=f"{bindir}{os.pathsep}/usr/bin:/bin")
    done = _run([str(bindir / "lifespan-state"), "run", "--", "hypercorn", "app:app", "-w", "2"], appdir, env)
    _check_foreign_server_message(done, str(DEBIAN_HYPERCORN_SCRIPT), "/usr/bin/python3")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1", "lifespan-state run: LIFESPAN_STATE_DISABLE=1 is set: the shim stays off"),
        ("true", "lifespan-state run: LIFESPAN_STATE_DISABLE=true is set: the shim stays off"),
        ("0", "lifespan-state run: warning: LIFESPAN_STATE_DISABLE='0' is not one of 1, true, yes, on"),
    ],
)
def test_launcher_reports_the_disable_variable(appdir: Path, value: str, message: str) -> None:
    bindir = ensure_env(UVICORN_OLD) / "bin"
    report = [str(SCRIPTS / "bootstrap_report.py"), "report", "--import"]
    argv = [str(bindir / "lifespan-state"), "run", "--", "python", *report]
    done = _run(argv, appdir, _env(bindir, LIFESPAN_STATE_DISABLE=value))
    assert done.returncode == 0, done.stderr
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr
    # What the line says is what happens in the command.
    assert bool(json.loads(done.stdout)["uvicorn"]["patched"]) == (value == "0"), done.stdout


def test_launcher_warns_about_python_flags_that_skip_the_bootstrap(appdir: Path) -> None:
    bindir = ensure_env(UVICORN_OLD) / "bin"
    argv = [str(bindir / "lifespan-state"), "run", "--", "python", "-I", "-c", "print('ran')"]
    done = _run(argv, appdir, _env(bindir))
    assert done.returncode == 0 and done.stdout.strip() == "ran", done.stderr
    assert "lifespan-state run: warning: Python with -I (isolated mode)" in done.stderr, done.stderr
    plain = _run([*argv[:4], "-c", "print('ran')"], appdir, _env(bindir))
    assert plain.stderr == "", plain.stderr  # negative control: no flag, no warning


def test_version(appdir: Path) -> None:
    bindir = ensure_env(UVICORN_OLD) / "bin"
    done = _run([str(bindir / "lifespan-state"), "--version"], appdir, _env(bindir))
    # The environment has this checkout installed (editable): the same package as here.
    assert done.returncode == 0 and done.stdout == f"lifespan-state {lifespan_state.__version__}\n", done


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "LIFESPAN_STATE_APP is not set"), ("main.app", "is not of the form module:attribute")],
)
def test_launcher_checks_the_factory_variable_before_exec(appdir: Path, value: str, message: str) -> None:
    """Caught before the exec: uvicorn's --workers parent would keep running after its workers
    all failed on it."""
    bindir = ensure_env(UVICORN_OLD) / "bin"
    env = _env(bindir) if value is None else _env(bindir, LIFESPAN_STATE_APP=value)
    argv = ["uvicorn", "lifespan_state.factory:create_app", "--factory", "--workers", "2", "--port", "0"]
    done = _run([str(bindir / "lifespan-state"), "run", "--", *argv], appdir, env, timeout=30)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith("lifespan-state run: error: ") and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_launcher_python_m_server_not_installed(appdir: Path) -> None:
    """``python -m hypercorn`` where it is not installed: Python's own one-line message."""
    bindir = ensure_env(UVICORN_OLD) / "bin"
    argv = [str(bindir / "lifespan-state"), "run", "--", "python", "-m", "hypercorn", "x:app"]
    done = _run(argv, appdir, _env(bindir))
    assert done.returncode == 1
    assert "No module named hypercorn" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_launcher_help(appdir: Path) -> None:
    bindir = ensure_env(UVICORN_OLD) / "bin"
    done = _run([str(bindir / "lifespan-state"), "run", "--help"], appdir, _env(bindir))
    assert done.returncode == 0 and "lifespan-state run [--] COMMAND" in done.stdout
    assert "LIFESPAN_STATE_DISABLE=1" in done.stdout


# --------------------------------------------------------------------------- too late

def _too_late(
    bindir: Path, tmp_path: Path, server: str, where: str, *worker: str
) -> Tuple[Dict[str, Any], List[List[str]]]:
    """``scripts/too_late.py SERVER WHERE PORT [WORKER]``: its report, and the too-late warnings in it."""
    argv = [str(bindir / "python"), str(SCRIPTS / "too_late.py"), server, where, str(free_port()), *worker]
    done = _run(argv, tmp_path, _env(bindir), timeout=90)
    assert done.returncode == 0, done.stderr
    result: Dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result, [w for w in result["warnings"] if w[0] == "ActivationTooLateWarning"]


@pytest.mark.parametrize("where", ["request", "thread", "lifespan", "before"])
def test_too_late_is_told_once(tmp_path: Path, where: str) -> None:
    result, late = _too_late(ensure_env(UVICORN_OLD) / "bin", tmp_path, "uvicorn", where)
    if where == "before":
        assert late == [] and result["first"] is True, result
    else:
        assert len(late) == 1, result
        assert "activated after a uvicorn server run in this process had already loaded" in late[0][1]
        assert "lifespan-state run -- uvicorn" in late[0][1] and "import lifespan_state.auto" in late[0][1]
        # The run that was going on stays as it was; the next run gets the shim.
        assert result["first"] is False and result["second"] is True, result


@pytest.mark.parametrize("worker", ["asyncio", pytest.param("trio", marks=pytest.mark.slow)])
@pytest.mark.parametrize("where", ["request", "lifespan"])
def test_too_late_is_told_once_hypercorn(tmp_path: Path, where: str, worker: str) -> None:
    bindir = ensure_env(HYPERCORN_16_TRIO if worker == "trio" else HYPERCORN_16) / "bin"
    result, late = _too_late(bindir, tmp_path, "hypercorn", where, worker)
    assert len(late) == 1, result
    assert "activated after a hypercorn server run in this process" in late[0][1]
    assert result["first"] is False and result["second"] is True, result


def test_python_api_errors_are_typed(tmp_path: Path) -> None:
    """``load_app`` raises AppLoadError (a LifespanStateError); ``factory_for`` checks its string."""
    bindir = ensure_env(UVICORN_OLD) / "bin"
    for name, text in APPS.items():
        (tmp_path / name).write_text(text)
    argv = [str(bindir / "python"), str(SCRIPTS / "factory_errors.py")]
    done = _run(argv, tmp_path, _env(bindir, PYTHONPATH=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "plain_app": True,
        "plain_app:nope": True,
        "nosuch:app": True,
        "plain_app:NUMBER": True,
        "factory_for": True,
        "app": "app",
        "called": "app",
        "auto_called": "app",
        "made": "app",
    }
