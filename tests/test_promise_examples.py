"""The counterexamples the stateful promise test (test_promise_stateful.py) shrank to, each as a
few git commands: every family of "a number issued twice" it found on the code before the
allocation ledger. Each failed there (a number issued twice) and passes with the per-clone
ledger, whose floor also holds `resolve --renumber` during `pull --rebase` above the numbers in
commits the rebase has not replayed yet.

The numbers are judged by promise_world.Ledger, the same judge the stateful test uses: a
number printed (by `allocate`, or by a renumbering `resolve` reports) to two different tasks by
one clone is a re-issue.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from promise_world import Ledger, extid_in, git_env


def clone_with_driver(path: Path, origin: Path | None = None) -> Path:
    """A repository (a clone of `origin`, or a new one) with the driver installed and the
    empty state committed."""
    if origin is None:
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        assert extid_in(path, "init").returncode == 0
    else:
        git(path.parent, "clone", "-q", str(origin), path.name)
    assert extid_in(path, "install").returncode == 0
    if origin is None:
        commit(path, "extid state")
    return path


def commit(repo: Path, message: str = "work") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


class Clone:
    """A clone whose every printed number goes through the judge."""

    def __init__(self, path: Path, ledger: Ledger, n: int = 0) -> None:
        self.path, self.ledger, self.n = path, ledger, n

    def allocate(self, task: str, tool: str = "jira", cwd: Path | None = None) -> str:
        project = ("--project", "PROJ") if tool == "jira" else ()
        proc = extid_in(cwd or self.path, "allocate", task, tool, *project)
        assert proc.returncode == 0, proc.stderr
        value = proc.stdout.strip()
        self.ledger.issue(tool, value, task, self.n, f"allocate in {(cwd or self.path).name}")
        return value

    def resolve(self) -> None:
        proc = extid_in(self.path, "resolve", "--renumber")
        assert proc.returncode == 0, proc.stderr
        self.ledger.renumbered(proc.stdout + proc.stderr, self.n, "resolve --renumber")


def extid_json_list(repo: Path) -> dict[str, dict[str, str]]:
    proc = extid_in(repo, "list", "--json")
    assert proc.returncode == 0, proc.stderr
    mappings: dict[str, dict[str, str]] = json.loads(proc.stdout)
    return mappings


@pytest.fixture
def clone(tmp_path: Path) -> Clone:
    return Clone(clone_with_driver(tmp_path / "repo"), Ledger(remote=False))


def test_checkout_of_another_branch(clone: Clone) -> None:
    """The machine: allocate, allocate, checkout -b, allocate + commit, checkout main,
    allocate (two of them carried over and committed on the branch)."""
    git(clone.path, "checkout", "-q", "-b", "side")
    first = clone.allocate("TASK-0001")
    commit(clone.path)
    git(clone.path, "checkout", "-q", "main")
    assert clone.allocate("TASK-0002") != first


def test_removed_on_one_branch_allocated_on_another_merges_cleanly(clone: Clone) -> None:
    """The checkout case made silent: the merge of both branches is clean."""
    git(clone.path, "checkout", "-q", "-b", "side")
    first = clone.allocate("TASK-0001")
    assert extid_in(clone.path, "remove", "TASK-0001").returncode == 0
    commit(clone.path)
    git(clone.path, "checkout", "-q", "main")
    try:
        assert clone.allocate("TASK-0002") != first
    finally:
        commit(clone.path)
        assert git(clone.path, "merge", "-q", "--no-edit", "side", check=False).returncode == 0


def test_revert_of_an_allocation(clone: Clone) -> None:
    """The machine: allocate + commit, revert HEAD, allocate."""
    first = clone.allocate("TASK-0001")
    commit(clone.path)
    git(clone.path, "revert", "--no-edit", "HEAD")
    assert clone.allocate("TASK-0002") != first


def test_reset_hard_of_an_allocation(clone: Clone) -> None:
    """The machine: allocate + commit, reset --hard HEAD~1, allocate."""
    first = clone.allocate("TASK-0001")
    commit(clone.path)
    git(clone.path, "reset", "-q", "--hard", "HEAD~1")
    assert clone.allocate("TASK-0002") != first


def test_reset_hard_of_an_uncommitted_allocation(clone: Clone) -> None:
    """reset --hard of work not committed (a user throwing work away), then allocate."""
    first = clone.allocate("TASK-0001")
    git(clone.path, "reset", "-q", "--hard")
    assert clone.allocate("TASK-0002") != first


def test_worktree_beside_an_uncommitted_allocation(clone: Clone, tmp_path: Path) -> None:
    """The machine (the CI run's first find): allocate, worktree (add at HEAD, allocate)."""
    first = clone.allocate("TASK-0001")
    git(clone.path, "worktree", "add", "-q", "-b", "w", str(tmp_path / "wt"), "HEAD")
    assert clone.allocate("TASK-0002", cwd=tmp_path / "wt") != first


def test_worktree_allocation_then_the_main_work_tree(clone: Clone, tmp_path: Path) -> None:
    """worktree (allocate and commit on its branch), then allocate in the main one."""
    git(clone.path, "worktree", "add", "-q", "-b", "w", str(tmp_path / "wt"), "HEAD")
    first = clone.allocate("TASK-0001", cwd=tmp_path / "wt")
    commit(tmp_path / "wt")
    assert clone.allocate("TASK-0002") != first


def test_stash_of_an_allocation(clone: Clone) -> None:
    """allocate, stash, allocate (the stash rule allocates meanwhile, then pops)."""
    first = clone.allocate("TASK-0001")
    git(clone.path, "stash", "-q")
    assert clone.allocate("TASK-0002") != first


def test_renumbering_during_pull_rebase(tmp_path: Path) -> None:
    """clone0 allocates github twice (two commits), clone1 allocates github and
    pushes, clone0 pull --rebase: the first replayed commit collides and `resolve
    --renumber` hands out the number clone0 gave the task of its second, not yet replayed
    commit."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = clone_with_driver(tmp_path / "seed")
    git(seed, "push", "-q", str(origin), "main")
    ledger = Ledger(remote=False)
    mine = Clone(clone_with_driver(tmp_path / "clone0", origin), ledger, 0)
    theirs = Clone(clone_with_driver(tmp_path / "clone1", origin), ledger, 1)
    for task in ("TASK-0a01", "TASK-0a02"):
        mine.allocate(task, "github")
        commit(mine.path, task)
    theirs.allocate("TASK-1b01", "github")
    commit(theirs.path)
    git(theirs.path, "push", "-q", "origin", "main")
    proc = git(mine.path, "pull", "-q", "--rebase", "origin", "main", check=False)
    for _ in range(3):  # one stop per replayed commit that collides
        if proc.returncode == 0:
            break
        mine.resolve()
        proc = git_env(mine.path, "rebase", "--continue")
    assert proc.returncode == 0, proc.stderr
    held = [e["github"] for e in extid_json_list(mine.path).values()]
    assert sorted(held) == ["1", "2", "3"]  # each task its own number, none issued twice
