"""Prove the upstream patch series in ``patches/``: they apply, and the patched servers and test
harnesses work.

One command, usable in CI::

    python -m tools.patches list
    python -m tools.patches apply [--series NAME/RELEASE ...]   # sdist + non-test part, cheap
    python -m tools.patches prove [--series NAME/RELEASE ...] [--json] [--no-upstream-tests]
    python -m tools.patches git-am --repo NAME=/path/to/NAME.git [--series ...] [--pytest]

``prove`` does, for every series: download the release's sdist from PyPI (``pip download
--no-binary :all:``), unpack it, apply the non-test part of the series with ``git apply`` (strict:
no fuzz, every hunk must apply; sdists carry no tests and often no changelog, so those files are
left out and reported), install the patched tree into a per-release environment built by
:mod:`tools.envs` (the same pins as the matrix, the release replaced by the local directory), and
run the check kit there with the shim switched off (``--server NAME``, or ``--harness KEY`` for a
test harness: its descriptor's ``harness``) — and the same check kit against the pristine
release in its own environment. The series is proven when every applicable check passes on the
patched server and the pristine release fails the checks the series is written to fix. A check is
not applicable to a configuration when it fails there for the reference behaviour too (the
pristine release with the shim on): a limit of that release or of this machine, which the proof
reports; it is only worked out when the patched server fails something. A failing patched run is
repeated once before it counts (a loaded 2-core machine), and the proof reports that as well.
Then the release's own tests (:func:`upstream_suite`): the whole series ``git am``'d onto a
repository made of the pristine sdist, the tests the sdist ships run there and pass, and the
series' test files fail once the release's own source is put back.

``git-am`` needs a clone of the upstream repository (not part of this project): it checks out
the release tag into a temporary worktree, applies the whole series with ``git am`` (tests and
changelog included) and, with ``--pytest``, runs the series' own tests with the project's test
suite in a virtual environment holding the release's test requirements.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from lifespan_state._integrations._descriptor import Integration
from lifespan_state._integrations._load import integrations
from lifespan_state._integrations._tools import Patches, PatchSeries
from tools.envs import ROOT, EnvError, EnvSpec, ensure_env, python_for, uv

__all__ = [
    "PATCHES",
    "SERIES",
    "Applied",
    "Proof",
    "Series",
    "Suite",
    "apply_to_sdist",
    "find_series",
    "git_am",
    "main",
    "patch_files",
    "prove",
    "run_check",
    "sdist",
    "sdist_repository",
    "upstream_suite",
]

PATCHES = ROOT / "patches"
CACHE = Path(os.environ.get("LIFESPAN_STATE_CACHE", ROOT / ".cache")) / "patches"
#: One check-kit run: the kit itself bounds every network wait; this bounds the whole process.
CHECK_TIMEOUT = 600.0


@dataclass(frozen=True)
class Series(PatchSeries):
    """One patch series of one integration: ``patches/<server>/<release>/NNNN-*.patch``.

    The series' facts are its integration's descriptor's (``patches``); ``shared`` holds what the
    integration's series have in common.
    """

    # Defaults only because a dataclass's own fields follow its base's, which have defaults:
    # SERIES gives both. Patches is frozen, so one shared default instance is safe.
    server: str = ""
    shared: Patches = Patches(series=())  # noqa: RUF009
    #: How ``lifespan-state check`` names the integration: ``("--server", name)`` or
    #: ``("--harness", key)``.
    target: Tuple[str, str] = ("--server", "")
    #: The top-level import package (``src/<package>/`` or ``<package>/`` in the sdist).
    package: str = ""

    @property
    def changelog(self) -> str:
        return self.shared.changelog

    @property
    def wheel_overlay(self) -> bool:
        """Proven on the release's wheel with the patched Python files over it (``Patches.compiled``)."""
        return bool(self.shared.compiled)

    @property
    def git_tag(self) -> str:
        return self.tag or self.release

    @property
    def name(self) -> str:
        return f"{self.server}/{self.release}"

    @property
    def directory(self) -> Path:
        return PATCHES / self.server / self.release

    def patches(self) -> List[Path]:
        return patch_files(self.directory)

    def digest(self) -> str:
        h = hashlib.sha256()
        for path in self.patches():
            h.update(path.name.encode() + b"\0" + path.read_bytes())
        return h.hexdigest()[:12]


def _series(integration: Integration, shared: Patches, facts: PatchSeries) -> Series:
    own = {f.name: getattr(facts, f.name) for f in fields(PatchSeries)}
    kits = integration.harnesses
    target = ("--harness", kits[0][0]) if kits else ("--server", integration.name)
    return Series(**own, server=integration.name, shared=shared, target=target,
                  package=integration.module)


#: Every series in ``patches/``: the integrations' by rank, each one's in its descriptor's order
#: (the README lists them so).
SERIES: Tuple[Series, ...] = tuple(
    _series(i, i.patches, facts) for i in integrations() if i.patches for facts in i.patches.series
)


def patch_files(directory: Path) -> List[Path]:
    """The series in ``directory``, in application order (file name order)."""
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]-*.patch"))


def find_series(names: Optional[Sequence[str]] = None) -> List[Series]:
    """The series named ``server/release`` (all when ``names`` is empty); only those on disk."""
    known = [s for s in SERIES if s.patches()]
    if not names:
        return known
    chosen = []
    for name in names:
        match = [s for s in SERIES if s.name == name]
        if not match:
            raise SystemExit(f"unknown series {name!r}; known: {', '.join(s.name for s in SERIES)}")
        chosen.append(match[0])
    return chosen


# -- the patch files ------------------------------------------------------------------------------

_DIFF = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)


def split_files(text: str) -> Tuple[str, Dict[str, str]]:
    """``(header, {path: that file's diff})`` of one ``git format-patch`` file."""
    starts = [(m.start(), m.group(2)) for m in _DIFF.finditer(text)]
    header = text[: starts[0][0]] if starts else text
    parts: Dict[str, str] = {}
    for (start, path), nxt in zip(starts, [s for s, _ in starts[1:]] + [len(text)]):
        body = text[start:nxt]
        # the "-- \n2.x" signature of format-patch would otherwise end the last file's diff
        body = re.sub(r"\n-- \n[\s\S]*\Z", "\n", body)
        parts[path] = body
    return header, parts


def is_test_path(path: str) -> bool:
    return path.startswith("tests/") or "/tests/" in path


# -- sdists ---------------------------------------------------------------------------------------


def sdist(server: str, release: str) -> Path:
    """The release's sdist from PyPI, downloaded once into the cache."""
    target = CACHE / "sdists"
    target.mkdir(parents=True, exist_ok=True)

    def found() -> Optional[Path]:
        for path in target.iterdir():
            # sdists are named "asgi-lifespan-2.1.0" or "asgi_lifespan-2.1.0" (PEP 625)
            low = _normalized(path.name)
            if low.startswith(f"{_normalized(server)}-{release}.") and low.endswith((".tar.gz", ".zip")):
                return path
        return None

    path = found()
    if path is None:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             f"{server}=={release}", "-d", str(target)],
            capture_output=True, text=True, timeout=600,
        )
        path = found() or _sdist_from_index(server, release, target)
        if path is None:
            raise RuntimeError(
                f"pip could not download the sdist of {server} {release}: "
                + " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            )
    return path


def _normalized(name: str) -> str:
    return re.sub(r"[-_]+", "-", name.lower())


def _sdist_from_index(server: str, release: str, target: Path) -> Optional[Path]:
    """The sdist file straight from the index's JSON listing (PEP 691), for releases ``pip
    download`` cannot fetch because it prepares their metadata first: the build backend of a
    compiled extension (``Patches.compiled``) may need crates or libraries that are not reachable
    here, although the archive itself is."""
    request = urllib.request.Request(
        f"https://pypi.org/simple/{server}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            files = json.load(response)["files"]
        wanted = [f for f in files if _normalized(f["filename"]) == f"{_normalized(server)}-{release}.tar.gz"]
        if not wanted:
            return None
        digest = wanted[0].get("hashes", {}).get("sha256")
        with urllib.request.urlopen(wanted[0]["url"], timeout=300) as response:
            data = response.read()
    except (OSError, ValueError, KeyError):
        return None
    if digest and hashlib.sha256(data).hexdigest() != digest:
        return None
    path = target / str(wanted[0]["filename"])
    path.write_bytes(data)
    return path


@dataclass
class Applied:
    """The non-test part of a series applied to an unpacked sdist."""

    series: Series
    tree: Path
    applied: List[str]
    #: Files of the series not in the sdist (tests, changelog), left out on purpose.
    skipped: List[str]


def _unpack(archive: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if not (m.name.startswith("/") or ".." in m.name)]
        tar.extractall(into, members=members)  # members filtered above
    (root,) = [p for p in into.iterdir() if p.is_dir()]
    return root


def _git(args: List[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    # GIT_CEILING_DIRECTORIES: the tree lives under this project's (git-ignored) cache; without
    # it `git apply` would find this project's repository and apply relative to its root.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(cwd.parent))
    return subprocess.run([*_GIT, *args], cwd=cwd, env=env, capture_output=True, text=True, **kwargs)


#: git for the repositories made from sdists: unpacked as root, their files keep the archive's
#: owner, which git would otherwise refuse as "dubious ownership".
_GIT = ["git", "-c", "safe.directory=*"]


def apply_to_sdist(series: Series, fresh: bool = False) -> Applied:
    """Unpack the release's sdist and apply the non-test part of ``series`` (strictly).

    Every file of the series that exists in the sdist must apply without fuzz; a file the sdist
    does not carry is skipped when it is a test or documentation file, and is an error when it is
    source (the series would then be incomplete for that release).
    """
    archive = sdist(series.server, series.release)
    base = CACHE / "trees" / f"{series.server}-{series.release}-{series.digest()}"
    marker = base / ".applied.json"
    if marker.exists() and not fresh:
        data = json.loads(marker.read_text())
        return Applied(series, Path(data["tree"]), data["applied"], data["skipped"])
    if base.exists():
        shutil.rmtree(base)
    tree = _unpack(archive, base)
    applied: List[str] = []
    skipped: List[str] = []
    for patch in series.patches():
        _, files = split_files(patch.read_text())
        wanted = []
        for path in files:
            if is_test_path(path):
                skipped.append(f"{patch.name}: {path}")
            elif (tree / path).exists() or "\nnew file mode" in files[path].split("@@")[0]:
                wanted.append(path)
            elif path.endswith((".md", ".rst", ".txt")):
                skipped.append(f"{patch.name}: {path}")
            else:
                raise RuntimeError(f"{patch.name}: {path} is not in the sdist {archive.name}")
        if not wanted:
            continue
        text = "".join(files[p] for p in wanted)
        proc = _git(["apply", "--whitespace=nowarn", "-p1", "-"], cwd=tree, input=text)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{series.name}: {patch.name} does not apply to {archive.name}:\n"
                + proc.stderr.strip()
            )
        applied += [f"{patch.name}: {p}" for p in wanted]
    marker.write_text(json.dumps({"tree": str(tree), "applied": applied, "skipped": skipped}))
    return Applied(series, tree, applied, skipped)


# -- proving --------------------------------------------------------------------------------------


def _site_packages(env: Path) -> Path:
    (found,) = env.glob("lib/python*/site-packages")
    return found


def overlay_env(series: Series, applied: Applied) -> Path:
    """The release's environment built from its wheel, with the series' patched Python files put
    over the installed ones (``Series.wheel_overlay``); built once per series digest.

    Only for series that change existing Python files of the package: anything else (the
    compiled part, a new module) cannot be overlaid faithfully and is an error.
    """
    files = [entry.split(": ", 1)[1] for entry in applied.applied]
    bad = [f for f in files if not (f.startswith(f"{series.server}/") and f.endswith(".py"))]
    if bad:
        raise RuntimeError(f"{series.name}: only Python files of the package can go over the wheel: {bad}")
    target = CACHE / "overlay" / f"{series.server}-{series.release}-py{series.python}-{series.digest()}"
    done = target / ".complete"
    if done.exists():
        return target
    if target.exists():
        shutil.rmtree(target)
    base = EnvSpec(series.server, series.release, series.python, extra=series.extra)
    tool = uv()
    env = dict(os.environ, VIRTUAL_ENV=str(target))
    env.pop("PYTHONPATH", None)
    steps = [
        [tool, "venv", "-q", "-p", python_for(series.python), str(target)],
        [tool, "pip", "install", "-q", "--only-binary", series.server, "--python",
         str(target / "bin" / "python"), *base.requirements(), "-e", str(ROOT)],
    ]
    for step in steps:
        proc = subprocess.run(step, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            why = (proc.stderr or proc.stdout).strip()[-400:]
            raise RuntimeError(f"{series.name}: the wheel's environment: {why}")
    site = _site_packages(target)
    for path in files:
        if not (site / path).exists():
            shutil.rmtree(target, ignore_errors=True)
            raise RuntimeError(f"{series.name}: {path} is not in the installed wheel")
        # uv hard-links installed files to its cache (and so to every other environment holding
        # the release): writing into the file would patch all of them. A new file replaces it.
        (site / path).unlink()
        shutil.copyfile(applied.tree / path, site / path)
    done.write_text("\n".join(files) + "\n")
    return target


def env_for(series: Series, patched: Optional[Path]) -> Path:
    """The release's environment (the matrix's pins), or the same with the patched tree."""
    extra = series.extra
    if patched is not None:
        # A direct reference satisfies "<server>==<release>" (the tree's own version), so the
        # resolver installs the patched tree in place of the PyPI release, with the same pins.
        extra = (*extra, f"{series.server} @ {patched.as_uri()}")
    return ensure_env(EnvSpec(series.server, series.release, series.python, extra=extra))


def run_check(env: Path, series: Series, options: Sequence[str], shim: str = "off") -> Dict[str, Any]:
    """``lifespan-state check --server/--harness ... --shim off --json`` in ``env``; the one result
    record."""
    argv = [str(env / "bin" / "python"), "-m", "lifespan_state", "check",
            *series.target, "--shim", shim, "--json", *options]
    return _run_json(argv)


#: Where the app variants' modules (``AppVariants``) are imported from.
APPS = ROOT / "tests" / "scripts"


def run_api_check(env: Path, series: Series, options: Dict[str, str],
                  shim: str = "off") -> Dict[str, Any]:
    """The same for an app variant (``options["app"]``, one of the integration's
    ``AppVariants.apps``): ``lifespan-state check --command`` serving it."""
    variants = series.shared.variants
    if variants is None:
        raise RuntimeError(f"{series.name}: API configurations, but no AppVariants in its descriptor")
    values = {**variants.defaults, **options}
    values["app"] = variants.apps[options["app"]].format(**values)
    command = variants.command  # the kit fills in {python}, {host} and {port}
    for key, value in values.items():
        command = command.replace(f"{{{key}}}", value)
    argv = [str(env / "bin" / "python"), "-m", "lifespan_state", "check", "--command", command,
            "--shim", shim, "--json"]
    return _run_json(argv, {"PYTHONPATH": str(APPS)})


def _run_json(argv: List[str], extra_env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ.update(extra_env or {})
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    with tempfile.TemporaryDirectory(prefix="lspatch-") as workdir:
        proc = subprocess.run(argv, cwd=workdir, env=environ, capture_output=True, text=True,
                              timeout=CHECK_TIMEOUT)
    try:
        results = json.loads(proc.stdout)["results"]
    except (ValueError, KeyError):
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"check exited {proc.returncode} without JSON: {tail}") from None
    if len(results) != 1:
        raise RuntimeError(f"expected one result record, got {len(results)}")
    record: Dict[str, Any] = results[0]
    return record


def failed(record: Dict[str, Any]) -> List[str]:
    return [c["id"] for c in record["checks"] if c["status"] == "fail"]


@dataclass
class Proof:
    series: Series
    applied: Optional[Applied] = None
    #: (configuration label, checks failed by the patched server, checks failed by the release,
    #: checks the release must fail)
    runs: List[Tuple[str, List[str], List[str], List[str]]] = field(default_factory=list)
    #: configuration label -> checks that fail there even for the reference behaviour (the
    #: pristine release with the shim on): a limit of that release or of this machine, not
    #: something a patch can be asked to fix; such checks are not applicable to the proof.
    not_applicable: Dict[str, List[str]] = field(default_factory=dict)
    error: str = ""
    #: Patched runs that failed once and were repeated (what failed the first time).
    retried: List[str] = field(default_factory=list)
    #: The release's own tests on the series (None: not asked for).
    suite: Optional[Suite] = None

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.runs) and not self.problems()

    def problems(self) -> List[str]:
        out = []
        for label, patched_fails, native_fails, expected in self.runs:
            excused = self.not_applicable.get(label, [])
            real = [c for c in patched_fails if c not in excused]
            if real:
                out.append(f"{label}: patched server fails {', '.join(real)}")
            missing = [c for c in expected if c not in native_fails]
            if missing:
                out.append(f"{label}: the pristine release passes {', '.join(missing)}, which it "
                           f"should fail (fails: {', '.join(native_fails) or 'nothing'})")
        if self.suite is not None and not self.suite.ok:
            what = [self.suite.patched, self.suite.pristine and f"pristine release: {self.suite.pristine}",
                    self.suite.note]
            out.append("upstream tests: " + "; ".join(w for w in what if w))
        return out

    def as_dict(self) -> Dict[str, Any]:
        return {
            "series": self.series.name,
            # the patched Python files put over the release's wheel instead of an sdist build
            "wheel_overlay": self.series.wheel_overlay,
            "patches": [p.name for p in self.series.patches()],
            "ok": self.ok,
            "error": self.error,
            "problems": self.problems(),
            "retried": self.retried,
            "not_applicable": self.not_applicable,
            "applied": self.applied.applied if self.applied else [],
            "skipped": self.applied.skipped if self.applied else [],
            "runs": [
                {"config": label, "patched_fails": p, "release_fails": n, "release_must_fail": e}
                for label, p, n, e in self.runs
            ],
            "upstream_tests": None if self.suite is None else {
                "ok": self.suite.ok, "patched": self.suite.patched, "pristine": self.suite.pristine,
                "note": self.suite.note,
            },
        }


#: One check-kit run of a proof: (what kind, configuration label, the run in an environment
#: (``shim`` "off" unless asked), the checks the release must fail).
KitRun = Tuple[str, str, Callable[..., Dict[str, Any]], List[str]]


def _kit_runs(series: Series) -> List[KitRun]:
    """The series' CLI configurations, then its API (app variant) configurations."""
    runs: List[KitRun] = [
        ("check kit", " ".join(options) or "defaults", partial(run_check, series=series, options=options),
         list(series.native_fails))
        for options in series.configs
    ]
    runs += [
        ("check kit (API)", " ".join(f"{k}={v}" for k, v in api_options),
         partial(run_api_check, series=series, options=dict(api_options)), list(must_fail))
        for api_options, must_fail in series.api_configs
    ]
    return runs


def _patched_run(run: Callable[[], Dict[str, Any]], proof: Proof, label: str) -> Dict[str, Any]:
    """One check-kit run of the patched server; a failing run is repeated once.

    On this 2-core machine a loaded moment can make a server miss a deadline (or widen a race
    of its own, patched or not: the descriptors' comments name those), as the matrix job also
    retries a failing cell once. The first failure is
    kept in the proof's ``retried`` list, so a real regression (failing twice) still fails.
    """
    record = run()
    if failed(record):
        details = [f"{c['id']}: {c['detail']}" for c in record["checks"] if c["status"] == "fail"]
        proof.retried.append(f"{label}: {'; '.join(details)}"[:600])
        record = run()
    return record


def prove(series: Series, log: Any = None, upstream_tests: bool = True) -> Proof:
    """Apply ``series`` to its sdist, check the patched integration and the pristine release, and
    (``upstream_tests``) run the release's own tests on the series (:func:`upstream_suite`)."""
    proof = Proof(series)

    def say(text: str) -> None:
        if log is not None:
            print(f"[{series.name}] {text}", file=log, flush=True)

    try:
        proof.applied = apply_to_sdist(series)
        say(f"applied {len(proof.applied.applied)} file diffs to the sdist "
            f"(left out: {len(proof.applied.skipped)} test/doc file diffs)")
        if series.wheel_overlay:
            patched_env = overlay_env(series, proof.applied)
            overlaid = ", ".join(e.split(": ", 1)[1] for e in proof.applied.applied)
            say(f"{series.server} {series.release} is a compiled extension, not built from the sdist "
                f"here: the patched Python files ({overlaid}) are put over the installed wheel's")
        else:
            patched_env = env_for(series, proof.applied.tree)
        release_env = env_for(series, None)
        if series.wheel_overlay:
            # negative control on the environments themselves: the pristine one must not show
            # the patch (shared files would make both runs the patched server)
            for entry in proof.applied.applied:
                path = entry.split(": ", 1)[1]
                pristine = (_site_packages(release_env) / path).read_bytes()
                if pristine == (proof.applied.tree / path).read_bytes():
                    raise RuntimeError(f"{series.name}: the pristine environment's {path} is the patched one")
        for kind, label, check, must_fail in _kit_runs(series):
            say(f"{kind}, shim off, {label}: patched / pristine")
            patched = _patched_run(partial(check, patched_env), proof, label)
            native = check(release_env)
            if failed(patched):
                reference = check(release_env, shim="on")
                proof.not_applicable[label] = failed(reference)
            proof.runs.append((label, failed(patched), failed(native), must_fail))
        if upstream_tests:
            say("git am onto the sdist's repository; the release's tests")
            proof.suite = upstream_suite(series)
            for line in (proof.suite.patched, proof.suite.pristine and f"pristine release: "
                         f"{proof.suite.pristine}", proof.suite.note):
                if line:
                    say(line)
    except (RuntimeError, EnvError, subprocess.TimeoutExpired, subprocess.CalledProcessError) as exc:
        proof.error = str(exc)
    say("PROVEN" if proof.ok else f"NOT PROVEN: {proof.error or '; '.join(proof.problems())}")
    return proof


# -- git am and the upstream test suite ----------------------------------------------------------

#: Who ``git am`` says committed the series (the patches keep their own author).
_COMMITTER = {"GIT_COMMITTER_NAME": "lifespan-state-shim",
              "GIT_COMMITTER_EMAIL": "lifespan-state-shim@users.noreply.github.com"}


@dataclass
class Suite:
    """The release's own tests on the series applied with ``git am`` (``prove``'s third part)."""

    #: The pytest run on the patched tree ("" when none ran).
    patched: str = ""
    #: The series' test files on the pristine release (the negative control): they must fail.
    pristine: str = ""
    #: Why nothing ran, or what the run left out (files the sdist does not carry).
    note: str = ""
    ok: bool = True


def git_am(series: Series, repo: Path, pytest_args: Optional[Sequence[str]] = None,
           keep: bool = False, exclude: Sequence[str] = (),
           control: Sequence[str] = ()) -> Tuple[bool, str]:
    """Apply the whole series with ``git am`` to the release tag of ``repo``.

    ``exclude``: paths of the series that ``repo`` does not carry (left out of ``git am``).
    With ``pytest_args``, install the worktree (editable) with its test requirements in a
    throw-away environment and run pytest there with those arguments; with ``control`` (test
    files), then put the release's own source back and run those tests again: they must fail.
    """
    work = Path(tempfile.mkdtemp(prefix=f"lspatch-{series.server}-{series.release}-"))
    tree = work / "tree"
    git = [*_GIT, f"--git-dir={repo}"]
    lines: List[str] = []
    try:
        proc = subprocess.run([*git, "worktree", "add", "--detach", str(tree), series.git_tag],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return False, f"no tag {series.git_tag} in {repo}: {proc.stderr.strip()}"
        env = dict(os.environ, **_COMMITTER)
        excludes = [f"--exclude={path}" for path in exclude]
        proc = subprocess.run([*_GIT, "am", "--quiet", *excludes, *map(str, series.patches())], cwd=tree,
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            subprocess.run([*_GIT, "am", "--abort"], cwd=tree, capture_output=True)
            return False, f"git am failed: {(proc.stderr or proc.stdout).strip()}"
        lines.append(f"git am: {len(series.patches())} patch(es) applied to tag {series.git_tag}")
        if pytest_args is not None:
            venv = work / "venv"
            ready = _suite_env(series, tree, venv)
            if ready:
                return False, "\n".join([*lines, ready])
            ok, text = _pytest(series, tree, venv, pytest_args)
            lines.append(text)
            if not ok:
                return False, "\n".join(lines)
            if control:
                source = [p for p in _changed(tree, series.git_tag) if not is_test_path(p)]
                subprocess.run([*_GIT, "checkout", series.git_tag, "--", *source], cwd=tree,
                               capture_output=True, check=True)
                failed_as_it_should, text = _pytest(series, tree, venv, control, expect_failure=True)
                lines.append(f"pristine release: {text}")
                if not failed_as_it_should:
                    return False, "\n".join(lines)
        return True, "\n".join(lines)
    finally:
        if not keep:
            subprocess.run([*git, "worktree", "remove", "--force", str(tree)], capture_output=True)
            shutil.rmtree(work, ignore_errors=True)


def _changed(tree: Path, tag: str) -> List[str]:
    proc = subprocess.run([*_GIT, "diff", "--name-only", tag, "HEAD"], cwd=tree, capture_output=True,
                          text=True, check=True)
    return proc.stdout.split()


def _suite_env(series: Series, tree: Path, venv: Path) -> str:
    """The test environment of the release's suite; "" when it is ready, else what failed."""
    suite = series.tests
    if suite is None:
        return f"no test suite recorded for {series.name} (its descriptor's PatchSeries.tests)"
    tool = uv()
    env = dict(os.environ, VIRTUAL_ENV=str(venv))
    env.pop("PYTHONPATH", None)
    subprocess.run([tool, "venv", "-q", "-p", python_for(suite.python), str(venv)], check=True, env=env)
    extras = series.shared.test_extras
    target = [f"{series.server}=={series.release}"] if series.wheel_overlay else ["-e", f"{tree}{extras}"]
    proc = subprocess.run([tool, "pip", "install", "-q", *target, *suite.requirements], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return f"test environment: {proc.stderr.strip()[-600:]}"
    if series.wheel_overlay:
        # The tree (first on sys.path under `python -m pytest`) is the patched package; it gets
        # the released wheel's compiled module, which the series does not touch.
        module = series.shared.compiled
        for built in _site_packages(venv).glob(f"{series.server}/{module}*.so"):
            shutil.copy2(built, tree / series.server / built.name)
    return ""


def _pytest(series: Series, tree: Path, venv: Path, pytest_args: Sequence[str],
            expect_failure: bool = False) -> Tuple[bool, str]:
    """pytest in ``venv`` on ``tree``: (as expected, summary). ``expect_failure``: the run must
    end with failing tests (pytest's exit code 1), not pass and not break (an error, exit 2+)."""
    known_failures = series.tests.known_failures if series.tests else ()
    env = dict(os.environ, VIRTUAL_ENV=str(venv))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-rf", "--color=no", "-p",
                           "no:cacheprovider", *pytest_args,
                           *(f"--deselect={t}" for t in known_failures)], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=1800)
    lines = proc.stdout.strip().splitlines() or ["(no output)"]
    summary = "; ".join([*(line[:200] for line in lines if line.startswith("FAILED")), lines[-1]])
    deselected = ""
    if known_failures:
        deselected = f" ({len(known_failures)} known pre-existing failure(s) deselected)"
    ok = proc.returncode == 1 if expect_failure else proc.returncode == 0
    return ok, f"pytest {' '.join(pytest_args)}: {summary}{deselected}"


def sdist_repository(series: Series) -> Path:
    """A git repository of the pristine sdist, its one commit tagged as the release (built once)."""
    base = CACHE / "repos" / f"{series.server}-{series.release}"
    if (base / ".complete").exists():
        return next(base.glob("*/.git"))
    if base.exists():
        shutil.rmtree(base)
    tree = _unpack(sdist(series.server, series.release), base)
    identity = ["-c", f"user.name={_COMMITTER['GIT_COMMITTER_NAME']}",
                "-c", f"user.email={_COMMITTER['GIT_COMMITTER_EMAIL']}"]
    for step in (["init", "-q"], ["add", "-A", "-f"],
                 [*identity, "commit", "-q", "--no-verify", "-m", f"{series.server} {series.release} sdist"],
                 ["tag", series.git_tag]):
        proc = _git(step, cwd=tree)
        if proc.returncode != 0:
            raise RuntimeError(f"{series.name}: a repository of the sdist: {proc.stderr.strip()}")
    (base / ".complete").write_text("")
    return tree / ".git"


def upstream_suite(series: Series) -> Suite:
    """The series applied with ``git am`` to a repository of the pristine sdist, then the tests
    that sdist ships (``UpstreamTests.args``) on it, and the series' test files on the pristine
    release, which must fail there.

    Files of the series that the sdist does not carry (a changelog, test modules of a suite it
    does not ship) are left out of ``git am``; when the sdist ships no tests, only the test files
    the series adds run. No suite facts, or no test the sdist can run: nothing runs, and the
    proof says why.
    """
    suite = series.tests
    if suite is None:
        return Suite(note="no upstream test facts (PatchSeries.tests)")
    repo = sdist_repository(series)
    tree = repo.parent
    shipped = _git(["ls-files"], cwd=tree).stdout.split()
    ships_tests = any(is_test_path(path) for path in shipped)
    absent: List[str] = []
    added: List[str] = []
    touched: List[str] = []
    for patch in series.patches():
        _, files = split_files(patch.read_text())
        for path, diff in files.items():
            new = "\nnew file mode" in diff.split("@@")[0]
            if not new and path not in shipped:
                absent += [] if path in absent else [path]  # a changelog each patch touches: once
                continue
            if is_test_path(path):
                touched.append(path)
                added += [path] if new else []
    notes = [f"not in the sdist, left out of git am: {', '.join(absent)}"] if absent else []
    args = list(suite.args) if ships_tests else added
    if not args or not touched:
        why = "the sdist ships no tests and the series adds no test file" if not ships_tests else \
            "the series touches no test the sdist ships"
        return Suite(note="; ".join([why, *([f"not in the sdist: {', '.join(absent)}"] if absent else [])]))
    if not ships_tests:
        notes.insert(0, "the sdist ships no tests: only the series' own new test files run")
    ok, text = git_am(series, repo, args, exclude=absent, control=touched)
    lines = text.splitlines()
    patched = next((line for line in lines if line.startswith("pytest ")), "")
    pristine = next((line.split(": ", 1)[1] for line in lines if line.startswith("pristine release: ")), "")
    if not patched:  # git am or the test environment failed: what it said
        notes.append(text)
    return Suite(patched=patched, pristine=pristine, note="; ".join(notes), ok=ok)


# -- command line ---------------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.patches", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the series and what each fixes")
    p_apply = sub.add_parser("apply", help="apply the non-test part of each series to its sdist")
    p_prove = sub.add_parser("prove", help="apply, install, run the check kit (shim off)")
    p_am = sub.add_parser("git-am", help="git am the whole series onto the upstream release tag")
    for sp in (p_apply, p_prove, p_am):
        sp.add_argument("--series", action="append", help="server/release (repeatable); default all")
    p_prove.add_argument("--json", action="store_true", help="print the proofs as JSON on stdout")
    p_prove.add_argument("--no-upstream-tests", action="store_true",
                         help="skip git am onto the sdist's repository and the release's own tests")
    p_am.add_argument("--repo", action="append", required=True,
                      help="server=/path/to/repository.git (a clone, bare or not)")
    p_am.add_argument("--pytest", nargs=argparse.REMAINDER,
                      help="also run the upstream suite: pytest arguments follow (e.g. tests)")
    args = parser.parse_args(argv)

    if args.command == "list":
        for s in find_series():
            print(f"{s.name:20} {len(s.patches())} patch(es)  {s.summary}")
            for patch in s.patches():
                print(f"{'':20}   {patch.name}")
        return 0
    chosen = find_series(args.series)
    if args.command == "apply":
        status = 0
        for s in chosen:
            try:
                applied = apply_to_sdist(s, fresh=True)
            except RuntimeError as exc:
                print(f"{s.name}: FAILED\n{exc}")
                status = 1
                continue
            print(f"{s.name}: applies to the sdist ({len(applied.applied)} file diffs; left out: "
                  f"{', '.join(x.split(': ')[1] for x in applied.skipped) or 'nothing'})")
        return status
    if args.command == "prove":
        proofs = [prove(s, log=sys.stderr, upstream_tests=not args.no_upstream_tests) for s in chosen]
        if args.json:
            print(json.dumps([proof.as_dict() for proof in proofs], indent=2))
        else:
            for proof in proofs:
                print(f"{proof.series.name}: {'proven' if proof.ok else 'NOT PROVEN'}")
                if proof.series.wheel_overlay:
                    print(f"  (not built from the sdist: {proof.series.server} is a compiled extension; "
                          "the patched Python files were put over the installed wheel's)")
                for label, pf, nf, _ in proof.runs:
                    print(f"  {label}: patched fails {pf or 'nothing'}; release fails {nf or 'nothing'}")
                for label, checks in proof.not_applicable.items():
                    if checks:
                        print(f"  (not applicable to {label}: {', '.join(checks)} fail for the "
                              "pristine release with the shim too)")
                for note in proof.retried:
                    print(f"  (failed once, repeated: {note})")
                suite = proof.suite
                if suite is not None:
                    for line in (suite.patched, suite.pristine and f"pristine release: {suite.pristine}"):
                        if line:
                            print(f"  upstream tests, {line}")
                    if suite.note and suite.ok:
                        print(f"  (upstream tests: {suite.note})")
                for problem in [proof.error] if proof.error else proof.problems():
                    print(f"  ! {problem}")
        return 0 if all(p.ok for p in proofs) else 1
    repos = dict(r.split("=", 1) for r in args.repo)
    status = 0
    for s in chosen:
        if s.server not in repos:
            continue
        ok, text = git_am(s, Path(repos[s.server]), args.pytest)
        print(f"{s.name}: {'ok' if ok else 'FAILED'}\n  " + text.replace("\n", "\n  "))
        status |= not ok
    return status


if __name__ == "__main__":
    raise SystemExit(main())
