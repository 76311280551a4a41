"""Shared fixtures. Every test runs in its own tmp_path with git isolated from the developer's
configuration, so no test can read or write a real `.claude/state` or `~/.gitconfig`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, with no deadline (a loaded machine made
# the 200 ms default fail tests at random) and no example database (`.hypothesis/` in whatever
# directory the first test ran in, replaying one worker's old failures in another).
# HYPOTHESIS_PROFILE=explore draws fresh examples: for a bug hunt, not for CI.
settings.register_profile("ci", derandomize=True, deadline=None, database=None)
settings.register_profile("explore", deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    home = tmp_path / "_home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(var, "extid tests")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(var, "tests@extid.invalid")
    for var in ("EXTID_STATE_DIR", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    # The console script's directory first, so git (merge drivers, hooks) finds `extid`.
    monkeypatch.setenv(
        "PATH", os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"]))
    )
    monkeypatch.chdir(tmp_path)
    yield


def uncovered_env() -> dict[str, str]:
    """The environment without coverage's variables: for a child whose measurement is waste
    (one SIGKILLed never writes its data; hundreds of identical start-ups add nothing) or
    would distort what it observes (what an interpreter imports)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}


@pytest.fixture
def without_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    """`uncovered_env` for every child, including those git starts (hooks, merge drivers)."""
    for name in set(os.environ) - set(uncovered_env()):
        monkeypatch.delenv(name)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, check=check, capture_output=True, text=True)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """Where a test keeps its state files (not created)."""
    return tmp_path / "state"


@pytest.fixture
def repo_root(tmp_path: Path) -> Path:
    """Where a test makes its git repository (not created)."""
    return tmp_path / "repo"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty git repository with one commit."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "commit", "-q", "--allow-empty", "-m", "root")
    return path


def run_extid(
    *args: str, cwd: Path | None = None, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, as users and git run it."""
    exe = shutil.which("extid") or ""
    cmd = [exe, *args] if exe else [sys.executable, "-m", "extid", *args]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, input=input, env=env, timeout=120
    )


InProcess = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def in_process(capsys: pytest.CaptureFixture[str]) -> InProcess:
    """`extid ARGS...` through main() in this process, shaped as run_extid's result: for what
    needs no git and no second process, as fast as a function call, with the same exit codes
    (argparse's 2 included)."""
    from extid.main import main

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        try:
            rc = main(list(args))
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["extid", *args], rc, out, err)

    return run
