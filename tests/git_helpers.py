"""Shared pieces of the git integration and multi-clone tests: repositories set up the way a
user sets them up (`extid init`, `extid install`), and readers of the state files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from conftest import InProcess, git, run_extid

STATE = ".claude/state"
MAPPING = f"{STATE}/external_id_mapping.json"
COUNTERS = f"{STATE}/external_id_counters.json"


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def extid(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_extid(*args, cwd=repo)


def extid_in(in_process: InProcess, where: Path, *args: str) -> tuple[int, str, str]:
    """`extid ARGS` in process with `where` as the current directory: (exit, stdout, stderr)."""
    cwd = os.getcwd()
    os.chdir(where)
    try:
        proc = in_process(*args)
    finally:
        os.chdir(cwd)
    return proc.returncode, proc.stdout, proc.stderr


def setup_repo(path: Path, *, install: bool = True, hooks: bool = True) -> Path:
    """A repository with initialised state, the driver (and hooks) installed, one commit."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    ok(extid(path, "init"))
    if install:
        ok(extid(path, "install", *([] if hooks else ["--no-hooks"])))
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "extid state")
    return path


def commit(repo: Path, message: str, *extra: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, *extra)


def allocate(repo: Path, task: str, tool: str, project: str | None = None) -> str:
    args = ["allocate", task, tool, *(["--project", project] if project else [])]
    return ok(extid(repo, *args)).stdout.strip()


def teammate(repo: Path) -> Path:
    """A second clone of `repo`, made before the allocations a test collides. Two clones are how
    two tasks really come to hold one number: one clone's ledger never issues a number twice,
    whatever git does to its files (branches of one clone get different numbers)."""
    mate = repo.parent / f"{repo.name}-teammate"
    git(repo.parent, "clone", "-q", str(repo), mate.name)
    return mate


def push_branch(mate: Path, name: str, message: str) -> None:
    """Commit the teammate's work and push it to `repo` as branch `name` (not checked out)."""
    commit(mate, message)
    git(mate, "push", "-q", "origin", f"HEAD:refs/heads/{name}")


def without_hooks(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`git ARGS` where no hook runs (GitHub's merge button, a clone without extid's hooks):
    how history the hooks would have refused gets made."""
    return git(repo, "-c", "core.hooksPath=/dev/null", *args, check=False)


def diverge_in_one_clone(repo: Path) -> None:
    """Branches `side` and `main` of one clone each allocate a jira PROJ number for a different
    task (TASK-beef on side, TASK-cafe on main): the ledger gives them different numbers, so no
    collision, but entries git's line merge puts in one place; `main` checked out. Works from
    any directory git works in (a subdirectory, a linked worktree, core.worktree)."""
    git(repo, "checkout", "-q", "-b", "side")
    allocate(repo, "TASK-beef", "jira", "PROJ")
    commit(repo, "side")
    git(repo, "checkout", "-q", "main")
    allocate(repo, "TASK-cafe", "jira", "PROJ")
    commit(repo, "main")


def diverge(repo: Path, side: tuple[str, str] = ("jira", "PROJ")) -> None:
    """Branches `side` and `main` each take the next jira PROJ number for a different task
    (TASK-beef on side, allocated in a teammate's clone and pushed; TASK-cafe on main): a
    collision once merged; `main` checked out. `side`: the tool and key side allocates from
    instead (no collision)."""
    mate = teammate(repo)
    allocate(repo, "TASK-cafe", "jira", "PROJ")
    commit(repo, "main")
    allocate(mate, "TASK-beef", *side)
    push_branch(mate, "side", "side")


def stopped_pull(tmp_path: Path, backend: str = "merge") -> Path:
    """`git pull --rebase` (git's `backend`) stopped on a collision, in a teammate's clone set up
    with `extid install`: upstream pushed TASK-aaaa as jira PROJ-1, the commit being replayed
    gave TASK-bbbb PROJ-1 too (the driver leaves a conflict). Returns that clone."""
    upstream = setup_repo(tmp_path / "up")
    mine = teammate(upstream)
    git(mine, "config", "pull.rebase", "true")
    git(mine, "config", "rebase.backend", backend)
    ok(extid(mine, "install"))
    allocate(upstream, "TASK-aaaa", "jira", "PROJ")
    commit(upstream, "pushed first")
    allocate(mine, "TASK-bbbb", "jira", "PROJ")
    commit(mine, "mine")
    assert git(mine, "pull", "-q", "origin", "main", check=False).returncode != 0
    return mine


def keep_one_side(mine: Path, kept: str, counters_from: str | None = None) -> None:
    """A hand resolution of every conflicted region of the mapping: `kept`'s side (the other
    task's mapping gone); the counters file taken whole from `counters_from` (default: `kept`);
    both staged."""
    from merge_helpers import pick

    doc = pick((mine / MAPPING).read_bytes(), kept)
    (mine / MAPPING).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    git(mine, "checkout", f"--{counters_from or kept}", "--", COUNTERS)
    git(mine, "add", "-A")


def mapping(repo: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((repo / MAPPING).read_text("utf-8"))
    return doc


def counters(repo: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((repo / COUNTERS).read_text("utf-8"))
    return doc


def has_markers(path: Path) -> bool:
    text = path.read_text("utf-8", "replace")
    return "<<<<<<< " in text and "\n=======\n" in text and ">>>>>>> " in text


def unmerged(repo: Path) -> list[str]:
    out = git(repo, "diff", "--name-only", "--diff-filter=U").stdout.split()
    return sorted(out)


def used_numbers(mappings: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (tool, v)
        for e in mappings.values()
        for tool, v in e.items()
        if tool not in ("created", "epic")
    ]
