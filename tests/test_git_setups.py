"""The state directory comes from git's own view of the repository, in every set-up git
supports: a subdirectory, `GIT_DIR` with `GIT_WORK_TREE` (absolute, relative) or with
`core.worktree`, a linked worktree, a submodule; a repository without a work tree is refused in
one line. `extid.git.toplevel` and `extid.store.resolve_state_dir` agree with `git rev-parse
--show-toplevel` in each, and `resolve` reads the index with the git binary alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import InProcess, git, uncovered_env
from git_helpers import (
    MAPPING,
    STATE,
    allocate,
    commit,
    diverge_in_one_clone,
    extid,
    has_markers,
    ok,
)

from extid import git as extid_git
from extid.store import resolve_state_dir

Setup = Callable[[Path, pytest.MonkeyPatch], Path]


def _repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "commit", "-q", "--allow-empty", "-m", "root")
    return path


def _subdirectory(tmp: Path, mp: pytest.MonkeyPatch) -> Path:
    top = _repo(tmp / "repo")
    (top / "a" / "b").mkdir(parents=True)
    mp.chdir(top / "a" / "b")
    return top


def _apart(tmp: Path, mp: pytest.MonkeyPatch, *, relative: bool, env_work_tree: bool) -> Path:
    """`meta.git` holds the repository of `work` (no `.git` in it); cwd `work/sub`. The work
    tree is named by `GIT_WORK_TREE`, or by the repository's `core.worktree` alone."""
    meta, work = tmp / "meta.git", tmp / "work"
    (work / "sub").mkdir(parents=True)
    git(tmp, "init", "-q", "-b", "main", f"--separate-git-dir={meta}", str(work))
    (work / ".git").unlink()  # only the environment (and core.worktree) say where it is
    git(work, "--git-dir", str(meta), "config", "core.worktree", str(work))
    if env_work_tree:
        git(work, "--git-dir", str(meta), "config", "--unset", "core.worktree")
    mp.chdir(work / "sub")
    mp.setenv("GIT_DIR", os.path.join("..", "..", "meta.git") if relative else str(meta))
    if env_work_tree:
        mp.setenv("GIT_WORK_TREE", ".." if relative else str(work))
    return work


def _worktree(tmp: Path, mp: pytest.MonkeyPatch) -> Path:
    main = _repo(tmp / "main")
    git(main, "checkout", "-q", "-b", "trunk")  # `main` is the linked worktree's branch
    git(main, "worktree", "add", "-q", str(tmp / "wt"), "main")
    (tmp / "wt" / "sub").mkdir()
    mp.chdir(tmp / "wt" / "sub")
    return tmp / "wt"


def _submodule(tmp: Path, mp: pytest.MonkeyPatch) -> Path:
    """The submodule is a repository of its own: its state is its own."""
    inner, outer = _repo(tmp / "inner"), _repo(tmp / "outer")
    git(outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(inner), "mod")
    assert (outer / "mod" / ".git").is_file()
    (outer / "mod" / "sub").mkdir()
    mp.chdir(outer / "mod" / "sub")
    return outer / "mod"


def _git_dir_only(tmp: Path, mp: pytest.MonkeyPatch) -> Path:
    """`GIT_DIR` alone: git takes the current directory as the top of the work tree."""
    _repo(tmp / "repo")
    (tmp / "elsewhere").mkdir()
    mp.chdir(tmp / "elsewhere")
    mp.setenv("GIT_DIR", str(tmp / "repo" / ".git"))
    return tmp / "elsewhere"


SETUPS: dict[str, Setup] = {
    "subdirectory": _subdirectory,
    "env-absolute": lambda t, m: _apart(t, m, relative=False, env_work_tree=True),
    "env-relative": lambda t, m: _apart(t, m, relative=True, env_work_tree=True),
    "core.worktree": lambda t, m: _apart(t, m, relative=False, env_work_tree=False),
    "core.worktree-relative-git-dir": lambda t, m: _apart(t, m, relative=True, env_work_tree=False),
    "worktree": _worktree,
    "submodule": _submodule,
    "git-dir-only": _git_dir_only,
}


@pytest.mark.parametrize("name", SETUPS)
def test_state_directory_is_where_git_says_the_work_tree_is(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess
) -> None:
    top = SETUPS[name](tmp_path, monkeypatch)
    gits_view = git(Path.cwd(), "rev-parse", "--show-toplevel").stdout.strip()
    assert Path(gits_view) == top
    assert extid_git.toplevel() == top
    assert resolve_state_dir() == top / STATE
    for number in (1, 2):
        result = in_process("allocate", f"TASK-{number:04x}", "jira", "--project", "PROJ")
        assert (result.returncode, result.stdout) == (0, f"PROJ-{number}\n"), result.stderr
    assert (top / MAPPING).is_file()
    assert not (Path.cwd() / ".claude").exists() or Path.cwd() == top


@pytest.mark.parametrize("where", ["bare", "git-directory"])
def test_a_repository_without_a_work_tree_is_refused_in_one_line(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess
) -> None:
    if where == "bare":
        git(tmp_path, "init", "-q", "--bare", "r.git")
        here = tmp_path / "r.git"
    else:
        here = _repo(tmp_path / "r") / ".git"
    monkeypatch.chdir(here)
    before = sorted(p.relative_to(here) for p in here.rglob("*"))
    for args in (["allocate", "TASK-beef", "jira", "--project", "PROJ"], ["list"], ["check"]):
        result = in_process(*args)
        assert result.returncode == 1, result
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert "without a work tree" in result.stderr and str(here) in result.stderr
    assert sorted(p.relative_to(here) for p in here.rglob("*")) == before
    assert extid_git.toplevel() is None
    with pytest.raises(extid_git.NoWorkTreeError):
        resolve_state_dir()


@pytest.mark.parametrize("how", ["gitdir-naming-nothing", "GIT_DIR-naming-nothing"])
def test_a_repository_git_cannot_open_is_refused_not_taken_for_none(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess
) -> None:
    """Where git refuses the repository, the answer is git's reason, never "outside any
    repository" (which would start a second, empty registry in the current directory)."""
    (tmp_path / "copied" / "sub").mkdir(parents=True)
    if how == "gitdir-naming-nothing":
        (tmp_path / "copied" / ".git").write_text(f"gitdir: {tmp_path / 'gone'}\n")
    else:
        monkeypatch.setenv("GIT_DIR", str(tmp_path / "gone"))
    monkeypatch.chdir(tmp_path / "copied" / "sub")
    result = in_process("allocate", "TASK-beef", "jira", "--project", "PROJ")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "git cannot open the repository" in result.stderr
    assert str(tmp_path / "gone") in result.stderr
    left = sorted(p.name for p in (tmp_path / "copied").rglob("*"))
    assert left == ([".git", "sub"] if how == "gitdir-naming-nothing" else ["sub"])
    doctor = in_process("doctor", "--json")  # the diagnosis is a finding, not a crash
    [finding] = json.loads(doctor.stdout)["errors"]
    assert doctor.returncode == 1 and "git cannot open the repository" in finding["message"]


def test_outside_any_repository_the_current_directory_holds_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain").mkdir()
    monkeypatch.chdir(tmp_path / "plain")
    assert extid_git.toplevel() is None
    assert resolve_state_dir() == tmp_path / "plain" / STATE


def _resolve_imports(cwd: Path, *args: str) -> tuple[int, bool]:
    """Run `extid resolve ARGS` in a fresh interpreter: (exit code, whether GitPython was
    imported)."""
    code = (
        "import sys\nfrom extid.main import main\nrc = main(sys.argv[1:])\n"
        "print(rc, 'git' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "resolve", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=uncovered_env(),
    )
    rc, imported = out.stdout.splitlines()[-1].split()  # after what resolve printed
    return int(rc), imported == "True"


@pytest.mark.parametrize("name", ["subdirectory", "core.worktree", "worktree"])
def test_resolve_reads_the_index_with_the_git_binary(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = SETUPS[name](tmp_path, monkeypatch)
    here = Path.cwd()
    ok(extid(here, "init"))
    commit(here, "extid state")
    diverge_in_one_clone(here)
    assert git(here, "merge", "side", check=False).returncode == 1  # no driver: line merge
    assert has_markers(top / MAPPING)
    stages = extid_git.read_stages(top, MAPPING)
    assert b"TASK-beef" in (stages.theirs or b"") and b"TASK-cafe" in (stages.ours or b"")
    assert stages.base is not None and b"TASK-" not in stages.base
    assert _resolve_imports(here, "--renumber") == (0, False)
    assert not has_markers(top / MAPPING)
    assert git(here, "ls-files", "-u").stdout == ""
    assert allocate(here, "TASK-d00d", "jira", "PROJ") == "PROJ-3"
