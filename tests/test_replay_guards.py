"""Commits git makes without the pre-commit hook, held to the history guards before they exist:
`git rebase --continue` (the prepare-commit-msg hook, `extid check --staged --replaying`) and a
merge git commits by itself, `-s ours` included (the pre-merge-commit hook). Real git, real
clones, the hooks `extid install` writes; the framework's hooks: test_precommit_hooks.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import git
from git_helpers import (
    COUNTERS,
    MAPPING,
    commit,
    diverge,
    diverge_in_one_clone,
    extid,
    keep_one_side,
    mapping,
    ok,
    setup_repo,
    stopped_pull,
    without_hooks,
)
from git_helpers import allocate as allocate_in


def _git_quiet_editor(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_EDITOR": "true"}
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env)


def _files(repo: Path) -> dict[str, bytes]:
    return {rel: (repo / rel).read_bytes() for rel in (MAPPING, COUNTERS)}


@pytest.mark.parametrize("kept", ["ours", "theirs"])
def test_rebase_continue_that_drops_a_mapping_is_refused_before_the_commit(
    tmp_path: Path, kept: str
) -> None:
    mine = stopped_pull(tmp_path)
    keep_one_side(mine, kept)
    head, files = git(mine, "rev-parse", "HEAD").stdout, _files(mine)
    refused = _git_quiet_editor(mine, "rebase", "--continue")
    lost = "TASK-bbbb" if kept == "ours" else "TASK-aaaa"
    assert refused.returncode != 0, refused.stderr
    assert f"jira PROJ-1 of {lost} on" in refused.stderr, refused.stderr
    assert (
        f"`git checkout -m -- {MAPPING}`, then `extid resolve --renumber` (or `--ours`/`--theirs`)"
        " and `git rebase --continue`"
    ) in refused.stderr
    # plain `extid resolve` would leave the collision conflicted: the fix names what works
    assert "then `extid resolve` and" not in refused.stderr
    assert "Traceback" not in refused.stderr
    # nothing committed, nothing moved: the rebase is still stopped on the pick
    assert git(mine, "rev-parse", "HEAD").stdout == head
    assert (mine / ".git" / "rebase-merge").is_dir()
    assert _files(mine) == files
    # the fix named, then the rebase goes on and keeps both tasks
    git(mine, "checkout", "-m", "--", MAPPING, COUNTERS)
    ok(extid(mine, "resolve", "--renumber"))
    ok(_git_quiet_editor(mine, "rebase", "--continue"))
    assert set(mapping(mine)["mappings"]) == {"TASK-aaaa", "TASK-bbbb"}
    assert not (mine / ".git" / "rebase-merge").exists()


def test_commit_no_verify_during_a_stopped_rebase_is_refused_too(tmp_path: Path) -> None:
    """git runs prepare-commit-msg whatever `--no-verify` says (it skips pre-commit only)."""
    mine = stopped_pull(tmp_path)
    keep_one_side(mine, "ours")
    head = git(mine, "rev-parse", "HEAD").stdout
    refused = _git_quiet_editor(mine, "commit", "--no-verify", "-m", "mine")
    assert refused.returncode != 0
    assert "jira PROJ-1 of TASK-bbbb on REBASE_HEAD is missing" in refused.stderr
    assert git(mine, "rev-parse", "HEAD").stdout == head


def test_ordinary_commits_and_clean_rebases_pass_the_replay_hook(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    assert (repo / ".git" / "hooks" / "prepare-commit-msg").is_file()
    ok(extid(repo, "check", "--staged", "--replaying"))  # no rebase: passes at once
    allocate_in(repo, "TASK-aaaa", "jira", "PROJ")
    commit(repo, "one")
    git(repo, "checkout", "-q", "-b", "side", "HEAD^")
    allocate_in(repo, "TASK-bbbb", "github")
    commit(repo, "side")
    ok(_git_quiet_editor(repo, "rebase", "main"))  # the driver merged the picks: no stop
    assert set(mapping(repo)["mappings"]) == {"TASK-aaaa", "TASK-bbbb"}


def test_edit_stop_amend_is_an_ordinary_commit(tmp_path: Path) -> None:
    """At an `edit` stop HEAD already is the replayed pick: amending it may remove a mapping
    it added (a deliberate change), as any commit may."""
    repo = setup_repo(tmp_path / "repo")
    allocate_in(repo, "TASK-aaaa", "jira", "PROJ")
    commit(repo, "one")
    env = {**os.environ, "GIT_SEQUENCE_EDITOR": "sed -i 1s/^pick/edit/", "GIT_EDITOR": "true"}
    stop = subprocess.run(["git", "rebase", "-i", "HEAD^"], cwd=repo, env=env, check=False)
    assert stop.returncode == 0 and (repo / ".git" / "REBASE_HEAD").exists()
    ok(extid(repo, "remove", "TASK-aaaa"))
    git(repo, "add", "-A")
    ok(_git_quiet_editor(repo, "commit", "--amend", "--no-edit"))
    ok(_git_quiet_editor(repo, "rebase", "--continue"))
    assert mapping(repo)["mappings"] == {}


@pytest.mark.parametrize("strategy", [("-s", "ours"), ("-X", "ours")])
def test_a_merge_git_commits_itself_that_drops_their_mappings_is_refused(
    tmp_path: Path, strategy: tuple[str, str]
) -> None:
    """`-s ours` keeps our files whatever the driver would do; `-X ours` without the driver (a
    clone with no `extid install`) settles git's line conflicts for our side. No conflict, so
    no pre-commit hook: the pre-merge-commit hook is what stops it."""
    repo = setup_repo(tmp_path / "repo")
    diverge(repo)
    if strategy[0] == "-X":
        git(repo, "config", "--remove-section", "merge.extid")
    head = git(repo, "rev-parse", "HEAD").stdout
    refused = git(repo, "merge", "-q", "--no-edit", *strategy, "side", check=False)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0, out
    assert "jira PROJ-1 of TASK-beef on side is missing" in out
    assert "`git merge --abort`, then merge again without them" in out
    assert "git checkout -m" not in out  # no conflict to make again
    assert git(repo, "rev-parse", "HEAD").stdout == head
    git(repo, "merge", "--abort")
    ok(extid(repo, "install"))
    assert git(repo, "merge", "-q", "--no-edit", "side", check=False).returncode != 0
    ok(extid(repo, "resolve", "--renumber"))  # the collision the driver left
    ok(git(repo, "commit", "-q", "--no-edit", check=False))
    assert set(mapping(repo)["mappings"]) == {"TASK-beef", "TASK-cafe"}


def test_post_merge_names_what_a_merge_past_the_hooks_dropped(tmp_path: Path) -> None:
    """A clone set up before extid installed the pre-commit-time hooks (here: none but the
    post-merge hook; `--no-verify` skips pre-merge-commit): the post-merge hook is the
    backstop, as post-rewrite is for a rebase no hook saw."""
    repo = setup_repo(tmp_path / "repo")
    (repo / ".git" / "hooks" / "prepare-commit-msg").unlink()
    diverge(repo)
    merged = git(repo, "merge", "-q", "--no-verify", "--no-edit", "-s", "ours", "side")
    assert "jira PROJ-1 of TASK-beef on HEAD^2 is missing" in merged.stderr, merged.stderr
    assert f"`git show HEAD^1:{MAPPING}` and `HEAD^2:{MAPPING}` hold both" in merged.stderr
    assert extid(repo, "post-merge").returncode == 1  # until the mapping is back
    ok(git(repo, "merge", "-q", "--no-edit", "side", check=False))  # already merged: no change
    assert "TASK-beef" not in mapping(repo)["mappings"]


def test_check_against_names_the_way_back_for_each_kind_of_merge(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    diverge_in_one_clone(repo)  # TASK-beef PROJ-1 on side, TASK-cafe PROJ-2 on main
    base = git(repo, "rev-parse", "HEAD").stdout.strip()
    # the branch merged main keeping its own files (no extid hook ran, as where it is not
    # installed): merging main again finds nothing to merge
    git(repo, "checkout", "-q", "side")
    ok(without_hooks(repo, "merge", "-q", "-s", "ours", "-m", "merge main", "main"))
    out = extid(repo, "check", "--against", base)
    assert out.returncode == 1
    assert "jira PROJ-2 of TASK-cafe" in out.stdout
    assert "merging it again finds nothing to merge" in out.stdout
    assert "`git reset --keep HEAD^`, then `git merge" in out.stdout
    # a pull request's merge commit (first parent: the base) made without the driver
    git(repo, "checkout", "-q", "--detach", base)
    ok(without_hooks(repo, "merge", "-q", "-s", "ours", "-m", "merge side", "side~1"))
    out = extid(repo, "check", "--against", base)
    assert out.returncode == 1
    assert "jira PROJ-1 of TASK-beef" in out.stdout
    assert f"merge {base} into the branch where the driver is installed" in out.stdout
    assert "merging it again finds nothing" not in out.stdout


def _merge_refused_then_concluded(repo: Path, resolve_by_hand: bool) -> None:
    """A merge of `side` whose result lost TASK-beef's mapping, left stopped with MERGE_HEAD:
    `-s ours` (refused by pre-merge-commit) or a collision resolved with `git checkout --ours`."""
    if resolve_by_hand:
        assert git(repo, "merge", "-q", "--no-edit", "side", check=False).returncode != 0
        git(repo, "checkout", "--ours", "--", MAPPING, COUNTERS)
        git(repo, "add", "-A")
        assert git(repo, "commit", "-q", "--no-edit", check=False).returncode != 0
    else:
        assert git(repo, "merge", "-q", "--no-edit", "-s", "ours", "side", check=False).returncode
    assert (repo / ".git" / "MERGE_HEAD").exists()


@pytest.mark.parametrize("resolve_by_hand", [False, True], ids=["s-ours", "checkout-ours"])
def test_commit_no_verify_concluding_a_lossy_merge_is_refused(
    tmp_path: Path, resolve_by_hand: bool
) -> None:
    """git runs prepare-commit-msg whatever `--no-verify` says: while MERGE_HEAD exists it holds
    the merge to the history guards, so the mapping the result lost is not committed away."""
    repo = setup_repo(tmp_path / "repo")
    diverge(repo)
    _merge_refused_then_concluded(repo, resolve_by_hand)
    head, files = git(repo, "rev-parse", "HEAD").stdout, _files(repo)
    refused = _git_quiet_editor(repo, "commit", "-q", "--no-verify", "--no-edit")
    assert refused.returncode != 0, refused.stderr
    assert "jira PROJ-1 of TASK-beef on MERGE_HEAD is missing" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert git(repo, "rev-parse", "HEAD").stdout == head
    assert (repo / ".git" / "MERGE_HEAD").exists()
    assert _files(repo) == files


def test_clean_merge_and_cherry_pick_with_no_verify_pass_the_prepare_hook(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    diverge_in_one_clone(repo)
    ok(_git_quiet_editor(repo, "merge", "-q", "--no-verify", "--no-edit", "side"))
    assert set(mapping(repo)["mappings"]) == {"TASK-beef", "TASK-cafe"}
    # a renumbering merge whose result the post-merge hook settles passes too
    other = setup_repo(tmp_path / "other")
    diverge(other)
    git(other, "config", "extid.onCollision", "renumber")
    ok(_git_quiet_editor(other, "merge", "-q", "--no-verify", "--no-edit", "side"))
    assert set(mapping(other)["mappings"]) == {"TASK-beef", "TASK-cafe"}


def test_commit_no_verify_concluding_a_lossy_cherry_pick_is_refused(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    diverge(repo)
    side = git(repo, "rev-parse", "side").stdout.strip()
    assert git(repo, "cherry-pick", side, check=False).returncode != 0  # the collision
    git(repo, "checkout", "--ours", "--", MAPPING, COUNTERS)
    git(repo, "add", "-A")
    files = _files(repo)
    refused = _git_quiet_editor(repo, "commit", "-q", "--no-verify", "--allow-empty", "-m", "x")
    assert refused.returncode != 0
    assert "jira PROJ-1 of TASK-beef on CHERRY_PICK_HEAD is missing" in refused.stderr
    assert (repo / ".git" / "CHERRY_PICK_HEAD").exists() and _files(repo) == files
