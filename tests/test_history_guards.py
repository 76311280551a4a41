"""The history guards: `extid check --staged` (the pre-commit and pre-merge-commit hooks) and
`extid check --against REF` (CI) refuse what would issue a number again or lose a mapping, and
`extid check` fails while git holds a state file unmerged. Real git, hooks installed by
`extid install --hooks` (the framework's hook: test_precommit_hooks.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from git_helpers import (
    COUNTERS,
    MAPPING,
    allocate,
    commit,
    diverge,
    extid,
    mapping,
    ok,
    push_branch,
    setup_repo,
    teammate,
    without_hooks,
)


def _refused(proc: object, *texts: str) -> str:
    out = getattr(proc, "stdout", "") + getattr(proc, "stderr", "")
    assert getattr(proc, "returncode", 0) != 0, out
    for text in texts:
        assert text in out, f"{text!r} not in:\n{out}"
    assert "Traceback" not in out
    return out


def test_revert_of_an_allocation_is_refused_by_the_pre_commit_hook(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "PROJ-1")
    head = git(repo, "rev-parse", "HEAD").stdout
    git(repo, "revert", "--no-commit", "HEAD")
    proc = git(repo, "commit", "-q", "-m", "revert", check=False)
    _refused(proc, "counter 0 is lower than HEAD's 2", f"git checkout HEAD -- {COUNTERS}")
    assert git(repo, "rev-parse", "HEAD").stdout == head
    # `--no-verify` skips pre-commit, not prepare-commit-msg, which REVERT_HEAD wakes
    proc = git(repo, "commit", "-q", "--no-verify", "-m", "revert", check=False)
    _refused(proc, "counter 0 is lower than HEAD's 2")
    assert git(repo, "rev-parse", "HEAD").stdout == head
    git(repo, "checkout", "HEAD", "--", COUNTERS)  # the fix named: the mapping stays reverted
    ok(git(repo, "commit", "-q", "-m", "revert, counters kept", check=False))
    assert allocate(repo, "TASK-BBB1", "jira", "PROJ") == "PROJ-2"


def test_staged_deletion_of_a_state_file_is_refused(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "PROJ-1")
    git(repo, "rm", "-q", "--cached", MAPPING)
    proc = git(repo, "commit", "-q", "-m", "untrack", check=False)
    _refused(proc, "staged deletion of a state file", f"git checkout HEAD -- {MAPPING}")


def test_check_staged_reads_the_index_not_the_work_tree(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    sound = (repo / MAPPING).read_bytes()
    (repo / MAPPING).write_bytes(sound.replace(b'"PROJ-1"', b'"PROJ-x"'))
    git(repo, "add", "-A")
    (repo / MAPPING).write_bytes(sound)
    ok(extid(repo, "check"))  # the work tree is sound
    _refused(extid(repo, "check", "--staged"), "PROJ-x")
    _refused(git(repo, "commit", "-q", "-m", "bad", check=False), "PROJ-x")
    git(repo, "add", "-A")
    ok(extid(repo, "check", "--staged"))
    ok(git(repo, "commit", "-q", "-m", "good", check=False))


def test_modify_delete_conflict_fails_check_naming_resolve(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    git(repo, "checkout", "-q", "-b", "side")
    git(repo, "rm", "-q", MAPPING)
    git(repo, "commit", "-q", "--no-verify", "-m", "side deletes the mapping")
    git(repo, "checkout", "-q", "main")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "PROJ-1")
    assert git(repo, "merge", "-q", "side", check=False).returncode != 0
    assert json.loads((repo / MAPPING).read_text())["mappings"]  # a valid file in the work tree
    for args in (("check",), ("check", "--staged"), ("check", MAPPING)):
        _refused(extid(repo, *args), f"{MAPPING}: unmerged", "extid resolve")


def test_hand_resolution_keeping_one_side_is_refused(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    diverge(repo)  # a collision: the driver leaves a conflict
    assert git(repo, "merge", "-q", "side", check=False).returncode != 0
    git(repo, "checkout", "--ours", "--", MAPPING)
    git(repo, "add", "-A")
    proc = git(repo, "commit", "-q", "--no-edit", check=False)
    _refused(proc, "jira PROJ-1 of TASK-beef on MERGE_HEAD is missing", "git checkout -m --")
    git(repo, "checkout", "-m", "--", MAPPING)  # the fix named
    ok(extid(repo, "resolve", "--renumber"))
    ok(git(repo, "commit", "-q", "--no-edit", check=False))
    assert {e["jira"] for e in mapping(repo)["mappings"].values()} == {"PROJ-1", "PROJ-2"}


def test_merge_whose_driver_never_ran_is_refused_by_pre_merge_commit(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    diverge(repo, side=("linear", "TEAM"))
    git(repo, "config", "merge.extid.driver", "true")  # "merged": ours kept, theirs dropped
    hook = repo / ".git" / "hooks" / "pre-merge-commit"  # as docs/hooks.md shows
    hook.write_text("#!/bin/sh\nexec extid check --staged\n")
    hook.chmod(0o755)
    head = git(repo, "rev-parse", "HEAD").stdout
    proc = git(repo, "merge", "-q", "--no-edit", "side", check=False)
    _refused(proc, "linear TEAM-1 of TASK-beef on side is missing")
    assert git(repo, "rev-parse", "HEAD").stdout == head


def test_check_against_ref_for_pull_requests(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    allocate(repo, "TASK-0001", "github")
    commit(repo, "main before the branch")
    git(repo, "checkout", "-q", "-b", "pr")
    allocate(repo, "TASK-beef", "linear", "TEAM")
    ok(extid(repo, "remove", "TASK-0001"))  # the pull request's own deletion stands
    commit(repo, "pr")
    git(repo, "checkout", "-q", "main")
    allocate(repo, "TASK-cafe", "jira", "PROJ")
    commit(repo, "main moves on")
    git(repo, "checkout", "-q", "pr")
    _refused(extid(repo, "check", "--against", "main"), "HEAD does not contain main")
    # GitHub's merge button, or a merge without the driver: the PR's side of the files wins
    ok(without_hooks(repo, "merge", "-q", "-s", "ours", "-m", "merge main", "main"))
    _refused(
        extid(repo, "check", "--against", "main"),
        "jira PROJ-1 of TASK-cafe on main is missing",
        "counter 0 is lower than main's 2",
    )
    git(repo, "reset", "-q", "--hard", "HEAD^")
    ok(git(repo, "merge", "-q", "--no-edit", "main", check=False))
    ok(extid(repo, "check", "--against", "main"))
    assert set(mapping(repo)["mappings"]) == {"TASK-beef", "TASK-cafe"}
    _refused(extid(repo, "check", "--against", "nonesuch"), "no such commit")


def _issued_and_removed_on_side(repo: Path) -> None:
    """side (a teammate's clone, pushed) issues PROJ-1 and PROJ-2, then removes PROJ-2's task;
    main issues PROJ-1 too."""
    git(repo, "config", "extid.onCollision", "renumber")
    mate = teammate(repo)
    allocate(repo, "TASK-cafe", "jira", "PROJ")  # before side arrives: the ledger seeds from refs
    allocate(mate, "TASK-beef", "jira", "PROJ")
    assert allocate(mate, "TASK-dead", "jira", "PROJ") == "PROJ-2"
    ok(extid(mate, "remove", "TASK-dead"))
    push_branch(mate, "side", "side")
    commit(repo, "main")


def _renumbered_to(mappings: dict[str, object]) -> set[str]:
    return {e["jira"] for e in mappings.values() if isinstance(e, dict)} - {"PROJ-1"}


def test_renumbering_stays_above_their_counters_in_merge_and_cherry_pick(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    _issued_and_removed_on_side(repo)
    ok(git(repo, "merge", "-q", "--no-edit", "side", check=False))
    assert _renumbered_to(mapping(repo)["mappings"]) == {"PROJ-3"}  # never side's PROJ-2
    # the merge commit itself is consistent: its counters are above the new number
    assert json.loads(git(repo, "show", f"HEAD:{COUNTERS}").stdout)["counters"]["jira"] == {
        "PROJ": 4
    }

    git(repo, "reset", "-q", "--hard", "HEAD^")
    git(repo, "cherry-pick", "side", check=False)
    # PROJ-3 was handed out by the merge the reset threw away: the clone's ledger remembers
    assert _renumbered_to(mapping(repo)["mappings"]) == {"PROJ-4"}


def test_renumbering_stays_above_their_counters_in_merge_tree(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    _issued_and_removed_on_side(repo)
    tree = git(repo, "merge-tree", "--write-tree", "main", "side", check=False).stdout.split()[0]
    merged = json.loads(git(repo, "cat-file", "blob", f"{tree}:{MAPPING}").stdout)
    assert _renumbered_to(merged["mappings"]) == {"PROJ-3"}
    out = tmp_path / "tree"  # no hook runs on merge-tree's tree: it must pass as written
    out.mkdir()
    for rel in (MAPPING, COUNTERS):
        (out / Path(rel).name).write_text(git(repo, "cat-file", "blob", f"{tree}:{rel}").stdout)
    ok(extid(repo, "check", str(out / Path(MAPPING).name), str(out / Path(COUNTERS).name)))


def _upstream_and_mine(tmp_path: Path) -> tuple[Path, Path]:
    """`a` (pushes to a bare remote) and `b` (a clone of it, extid installed)."""
    upstream = setup_repo(tmp_path / "a")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(upstream), str(remote))
    git(upstream, "remote", "add", "origin", str(remote))
    git(tmp_path, "clone", "-q", str(remote), str(tmp_path / "b"))
    mine = tmp_path / "b"
    ok(extid(mine, "install"))
    return upstream, mine


def _push_cafe_then_pull(upstream: Path, mine: Path) -> int:
    """upstream takes PROJ-1 for TASK-cafe and pushes it; mine pulls (by merge): exit code."""
    allocate(upstream, "TASK-cafe", "jira", "PROJ")
    commit(upstream, "pushed first")
    git(upstream, "push", "-q", "origin", "main")
    args = ("pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    return git(mine, *args, check=False).returncode


def test_renumbering_keeps_the_published_number(tmp_path: Path) -> None:
    """A task created earlier but never pushed loses its number to the one already on the remote
    (the tracker may hold it): the side being pulled is published."""
    upstream, mine = _upstream_and_mine(tmp_path)
    git(mine, "config", "extid.onCollision", "renumber")
    allocate(mine, "TASK-beef", "jira", "PROJ")
    text = (mine / MAPPING).read_text()
    (mine / MAPPING).write_text(
        text.replace(text.split('"created": ')[1][:22], '"2020-01-01T00:00:00Z"')
    )
    commit(mine, "created long ago, never pushed")
    assert _push_cafe_then_pull(upstream, mine) == 0
    m = mapping(mine)["mappings"]
    assert (m["TASK-cafe"]["jira"], m["TASK-beef"]["jira"]) == ("PROJ-1", "PROJ-2")


@pytest.mark.parametrize("side", ["--ours", "--theirs"])
def test_resolve_ours_or_theirs_is_obeyed_over_what_is_published(tmp_path: Path, side: str) -> None:
    """The user named the side whose task keeps the number: published or not, it keeps it."""
    upstream, mine = _upstream_and_mine(tmp_path)
    allocate(mine, "TASK-beef", "jira", "PROJ")
    commit(mine, "not pushed")
    assert _push_cafe_then_pull(upstream, mine) != 0  # a collision: conflict by default
    ok(extid(mine, "resolve", side))
    keeper, moved = ("TASK-beef", "TASK-cafe") if side == "--ours" else ("TASK-cafe", "TASK-beef")
    m = mapping(mine)["mappings"]
    assert (m[keeper]["jira"], m[moved]["jira"]) == ("PROJ-1", "PROJ-2")


def test_post_merge_reports_a_fast_forward_that_deleted_the_state_files(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "PROJ-1")
    git(repo, "checkout", "-q", "-b", "cleanup")
    git(repo, "rm", "-q", "-r", ".claude/state")
    git(repo, "commit", "-q", "--no-verify", "-m", "drop the registry")
    git(repo, "checkout", "-q", "main")
    proc = git(repo, "merge", "-q", "--ff-only", "cleanup", check=False)
    assert not (repo / MAPPING).exists()
    assert "the merge deleted this state file (ORIG_HEAD has it)" in proc.stderr, proc.stderr
    assert f"git checkout ORIG_HEAD -- {MAPPING}" in proc.stderr
    git(repo, "checkout", "ORIG_HEAD", "--", MAPPING, COUNTERS)  # the fix named
    assert allocate(repo, "TASK-BBB1", "jira", "PROJ") == "PROJ-2"
