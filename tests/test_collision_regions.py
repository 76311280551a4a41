"""A collision left to the user (issue 11, item 20): one marked region holding both tasks
whole, the count printed being the regions in the file, and during a rebase the sides named by
what they are (git swaps ours and theirs there) and `git rebase --continue` as the way on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import git, run_extid
from git_helpers import MAPPING, allocate, commit, push_branch, setup_repo, teammate
from merge_helpers import T0, pick

from extid.document import canonical


def two_collisions(tmp_path: Path) -> Path:
    """`side` (a teammate's clone, pushed) and `main` each take jira PROJ-2 and github 1 for
    tasks of their own."""
    repo = setup_repo(tmp_path / "repo")
    allocate(repo, "TASK-0001", "jira", "PROJ")
    commit(repo, "base")
    mate = teammate(repo)
    allocate(mate, "TASK-beef", "jira", "PROJ")
    allocate(mate, "TASK-bee2", "github")
    push_branch(mate, "side", "side")
    allocate(repo, "TASK-cafe", "jira", "PROJ")
    allocate(repo, "TASK-caf2", "github")
    commit(repo, "main")
    return repo


def regions(text: bytes) -> list[bytes]:
    return [part.split(b"\n>>>>>>> ")[0] for part in text.split(b"<<<<<<< ")[1:]]


def test_a_collision_is_one_region_with_both_tasks_whole(tmp_path: Path) -> None:
    repo = two_collisions(tmp_path)
    proc = git(repo, "merge", "side", "-m", "merge", check=False)
    text = (repo / MAPPING).read_bytes()
    [region] = regions(text)  # the two collisions' tasks are neighbours: one region
    for task in (b"TASK-beef", b"TASK-cafe", b"TASK-bee2", b"TASK-caf2"):
        assert region.count(b'"' + task + b'": {') == 2  # whole, on each side
    ours, theirs = (pick(text, side)["mappings"] for side in ("ours", "theirs"))
    assert ours["TASK-cafe"]["jira"] == "PROJ-2" and "jira" not in ours["TASK-beef"]
    assert theirs["TASK-beef"]["jira"] == "PROJ-2" and "jira" not in theirs["TASK-cafe"]
    assert ours["TASK-caf2"]["github"] == "1" and "github" not in ours["TASK-bee2"]
    assert all("created" in entry for entry in (*ours.values(), *theirs.values()))
    assert "1 conflicted region(s) left between markers" in proc.stderr
    assert "`git commit`" in proc.stderr and "rebase" not in proc.stderr


def test_during_a_rebase_the_sides_are_upstream_and_your_commit(tmp_path: Path) -> None:
    repo = two_collisions(tmp_path)
    git(repo, "checkout", "-q", "side")
    proc = git(repo, "rebase", "main", check=False)
    assert proc.returncode != 0
    text = (repo / MAPPING).read_bytes()
    assert b"<<<<<<< ours (upstream)\n" in text and b">>>>>>> theirs (your commit)\n" in text
    assert "TASK-beef (your commit) and TASK-cafe (upstream)" in proc.stderr
    assert "`git rebase --continue`" in proc.stderr and "`git commit`" not in proc.stderr
    upstream = pick(text, "ours")["mappings"]
    assert upstream["TASK-cafe"]["jira"] == "PROJ-2"  # main's task, the upstream
    refused = run_extid("allocate", "TASK-0009", "github", cwd=repo)
    assert refused.returncode == 1 and "`git rebase --continue`" in refused.stderr


def test_a_large_registry_names_the_sides_during_a_rebase_too(tmp_path: Path) -> None:
    """Over 256 KiB the driver merges on bytes; its markers said plain ours/theirs during a
    rebase, where the document merge says which is the upstream (the bytes merge now takes
    deletions against changes and collisions too: most conflicts of a big file)."""
    repo = setup_repo(tmp_path / "repo")
    path = repo / MAPPING

    def edit(change: Callable[[dict[str, Any]], Any], message: str) -> None:
        doc = json.loads(path.read_bytes())
        change(doc["mappings"])
        path.write_bytes(canonical(doc))
        commit(repo, message)

    filler = {f"TASK-{n:04x}": {"created": T0, "epic": f"EPIC-{n % 900 + 100}"} for n in range(3)}
    filler.update((f"TASK-{n:04x}", {"created": T0}) for n in range(3, 5000))
    edit(lambda m: m.update(filler), "a large registry")
    git(repo, "checkout", "-q", "-b", "side")
    edit(lambda m: m["TASK-0001"].update(epic="EPIC-001"), "side's epic")
    git(repo, "checkout", "-q", "main")
    edit(lambda m: m["TASK-0001"].update(epic="EPIC-002"), "main's epic")
    git(repo, "checkout", "-q", "side")
    proc = git(repo, "rebase", "main", check=False)
    text = path.read_bytes()
    assert proc.returncode != 0 and len(text) > 256 * 1024
    assert text.count(b"<<<<<<< ") == 1 and b"<<<<<<< ours (upstream)\n" in text
    assert b">>>>>>> theirs (your commit)\n" in text
    assert "`git rebase --continue`" in proc.stderr
