"""A work tree whose git directory lives elsewhere, named by `GIT_DIR` and `GIT_WORK_TREE` in the
environment (absolute, or relative to where the command starts, as git reads them), with extid
run from a subdirectory: the state directory is the work tree's, `resolve` reads the index and
recovery reads `HEAD` with the git binary, and the hooks' paths never import GitPython."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, uncovered_env
from git_helpers import (
    COUNTERS,
    MAPPING,
    STATE,
    allocate,
    commit,
    extid,
    has_markers,
    ok,
    unmerged,
)

from extid import git as extid_git
from extid.document import canonical


@pytest.fixture
def apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`meta.git` holds the repository of the work tree `work`, which has no `.git` at all;
    the environment points at both (absolute) and the current directory is `work/sub/deeper`.
    Returns the work tree."""
    meta, work = tmp_path / "meta.git", tmp_path / "work"
    (work / "sub" / "deeper").mkdir(parents=True)
    monkeypatch.setenv("GIT_DIR", str(meta))
    monkeypatch.setenv("GIT_WORK_TREE", str(work))
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "--unset", "core.worktree", check=False)  # only the environment says
    monkeypatch.chdir(work / "sub" / "deeper")
    ok(extid(Path.cwd(), "init"))
    commit(Path.cwd(), "extid state")
    assert not (work / ".git").exists() and (meta / "HEAD").is_file()
    return work


def _relative_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same repository, named relative to the current directory (`work/sub/deeper`)."""
    monkeypatch.setenv("GIT_DIR", os.path.join("..", "..", "..", "meta.git"))
    monkeypatch.setenv("GIT_WORK_TREE", os.path.join("..", ".."))


def _colliding_merge(here: Path) -> None:
    """Two branches hold PROJ-1 for different tasks, each recorded as the tool assigned it (one
    clone's own allocations never collide); merged with git's line merge (no driver)."""
    git(here, "checkout", "-q", "-b", "side")
    ok(extid(here, "record", "TASK-beef", "jira", "PROJ-1"))
    commit(here, "side")
    git(here, "checkout", "-q", "main")
    ok(extid(here, "record", "TASK-cafe", "jira", "PROJ-1"))
    commit(here, "main")
    assert git(here, "merge", "side", check=False).returncode == 1


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_state_lives_in_the_work_tree_named_by_the_environment(
    apart: Path, relative: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if relative:
        _relative_env(monkeypatch)
    here = Path.cwd()
    assert allocate(here, "TASK-beef", "jira", "PROJ") == "PROJ-1"
    assert (apart / MAPPING).is_file() and not (apart / "sub" / ".claude").exists()
    assert not (here / ".claude").exists()
    assert extid_git.toplevel() == apart
    ok(extid(here, "check"))
    commit(here, "one")
    assert "TASK-beef" in git(here, "show", f"HEAD:{MAPPING}").stdout


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_resolve_reads_the_index_under_git_dir(
    apart: Path, relative: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = Path.cwd()
    _colliding_merge(here)
    assert has_markers(apart / MAPPING)
    if relative:
        _relative_env(monkeypatch)
    stages = extid_git.read_stages(apart, MAPPING)
    assert b"TASK-beef" in (stages.theirs or b"") and b"TASK-cafe" in (stages.ours or b"")
    assert stages.base is not None and b"TASK-" not in stages.base
    ok(extid(here, "resolve", "--renumber"))
    assert not unmerged(here) and not has_markers(apart / MAPPING)
    assert (
        ok(extid(here, "lookup", "TASK-beef")).stdout.split("\ncreated: ")[0] == "jira: PROJ-1"
    )  # then `created`
    assert (
        ok(extid(here, "lookup", "TASK-cafe")).stdout.split("\ncreated: ")[0] == "jira: PROJ-2"
    )  # then `created`
    ok(extid(here, "check"))


def test_resolve_reads_the_index_named_by_git_index_file(
    apart: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = Path.cwd()
    _colliding_merge(here)
    moved = apart.parent / "other-index"
    (apart.parent / "meta.git" / "index").rename(moved)
    monkeypatch.setenv("GIT_INDEX_FILE", os.path.relpath(moved))
    stages = extid_git.read_stages(apart, MAPPING)
    assert b"TASK-beef" in (stages.theirs or b"")


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_corrupt_file_is_restored_from_head_under_git_dir(
    apart: Path, relative: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = Path.cwd()
    allocate(here, "TASK-beef", "jira", "PROJ")
    commit(here, "one")
    if relative:
        _relative_env(monkeypatch)
    assert b"TASK-beef" in (extid_git.head_blob(apart, MAPPING) or b"")
    for backup in (apart / STATE).glob("*.bak"):
        backup.unlink()
    (apart / MAPPING).write_text('{"mappings": {"TASK-beef": ')  # torn: no .bak to restore
    result = ok(extid(here, "repair"))  # a writer: readers only report the torn file
    assert f"git HEAD:{MAPPING}" in result.stdout  # repair's own report (not also on stderr)
    looked_up = ok(extid(here, "lookup", "TASK-beef")).stdout
    assert looked_up.split("\ncreated: ")[0] == "jira: PROJ-1"  # then `created`
    assert (apart / COUNTERS).is_file() and list((apart / STATE).glob("*.corrupt-*"))


def _imports_gitpython(*argv: str) -> bool:
    code = (
        "import sys\nfrom extid.main import main\n"
        "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
        "print(rc, 'git' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=uncovered_env()
    )
    rc, imported = out.stdout.split()
    assert rc in ("0", "None"), out.stderr
    return imported == "True"


def test_hook_and_driver_paths_do_not_import_gitpython_under_git_dir(apart: Path) -> None:
    assert not _imports_gitpython("check", str(apart / MAPPING))
    base = apart.parent / "base"
    base.write_bytes((apart / MAPPING).read_bytes())
    ours, theirs = apart.parent / "ours", apart.parent / "theirs"
    for side, task, number in ((ours, "TASK-AAAA", "P-1"), (theirs, "TASK-BBBB", "P-2")):
        doc = json.loads(base.read_text())
        doc["mappings"][task] = {"jira": number}
        side.write_bytes(canonical(doc))
    assert not _imports_gitpython("merge-driver", str(base), str(ours), str(theirs), MAPPING)
    assert set(json.loads(ours.read_text())["mappings"]) == {"TASK-AAAA", "TASK-BBBB"}
