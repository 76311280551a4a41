"""The post-rewrite hook compares the counters with the commits git says it replaced (the `OLD
NEW` lines on its stdin), never with an ORIG_HEAD that an earlier merge or reset left behind on
another branch. Real git, the hooks `extid install --hooks` writes; the registry is changed in
process (the hooks git runs are real processes)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import InProcess, git
from git_helpers import (
    COUNTERS,
    MAPPING,
    commit,
    counters,
    diverge_in_one_clone,
    extid,
    keep_one_side,
    mapping,
    ok,
    setup_repo,
    stopped_pull,
    without_hooks,
)

Allocate = Callable[..., str]


@pytest.fixture
def allocate(in_process: InProcess) -> Allocate:
    """`extid allocate TASK jira --project PROJ` for each task, in the current directory;
    returns the last number printed."""

    def run(*tasks: str) -> str:
        out = ""
        for task in tasks:
            result = in_process("allocate", task, "jira", "--project", "PROJ")
            assert result.returncode == 0, result.stderr
            out = result.stdout.strip()
        return out

    return run


def _repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, hooks: bool = True) -> Path:
    repo = setup_repo(tmp_path / "repo", hooks=hooks)
    monkeypatch.chdir(repo)
    return repo


def _counter(repo: Path) -> int:
    return int(counters(repo)["counters"]["jira"]["PROJ"])


def _stale_orig_head_on_another_branch(repo: Path, allocate: Allocate) -> None:
    """main takes PROJ-1..3 and a reset leaves ORIG_HEAD there (PROJ counter 4); then a new
    branch `feature` from the first commit (no PROJ counter) gets one commit."""
    root = git(repo, "rev-parse", "HEAD").stdout.strip()
    allocate("TASK-a001", "TASK-a002", "TASK-a003")
    commit(repo, "three numbers on main")
    git(repo, "reset", "-q", "HEAD")
    assert git(repo, "rev-parse", "ORIG_HEAD").stdout == git(repo, "rev-parse", "main").stdout
    git(repo, "checkout", "-q", "-b", "feature", root)
    (repo / "notes.txt").write_text("feature work\n")
    commit(repo, "feature")


def _amend(repo: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """`git commit --amend` (git ignores a post-* hook's exit code: its output is the report)."""
    return git(repo, "commit", "-q", "--amend", "-m", "amended", *flags, check=False)


def test_amend_on_another_branch_ignores_a_stale_orig_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allocate: Allocate
) -> None:
    repo = _repo(tmp_path, monkeypatch)
    _stale_orig_head_on_another_branch(repo, allocate)
    state = {p: (repo / p).read_bytes() for p in (MAPPING, COUNTERS)}
    amend = _amend(repo)
    assert amend.returncode == 0, amend.stderr
    assert "lowered" not in amend.stderr and "Traceback" not in amend.stderr, amend.stderr
    assert {p: (repo / p).read_bytes() for p in (MAPPING, COUNTERS)} == state
    assert git(repo, "status", "--porcelain").stdout == ""


def test_amend_that_lowers_a_counter_is_compared_with_the_commit_it_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allocate: Allocate, in_process: InProcess
) -> None:
    repo = _repo(tmp_path, monkeypatch)
    allocate("TASK-b001", "TASK-b002")
    commit(repo, "two numbers")
    assert _counter(repo) == 3
    assert git(repo, "rev-parse", "-q", "--verify", "ORIG_HEAD", check=False).returncode != 0
    for task in ("TASK-b001", "TASK-b002"):  # forget them and set the counter back by hand
        assert in_process("remove", task).returncode == 0
    doc = counters(repo)
    doc["counters"]["jira"]["PROJ"] = 1
    (repo / COUNTERS).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    assert in_process("check").returncode == 0  # a valid pair on its own
    git(repo, "add", "-A")
    refused = _amend(repo)  # the pre-commit hook holds the index to HEAD's counters
    assert refused.returncode == 1 and "lower than HEAD's 3" in refused.stderr, refused.stderr
    amend = _amend(repo, "--no-verify")  # past the hook: post-rewrite still puts it back
    assert "counter jira.PROJ was lowered by the amend from 3 to 1; put back to 3" in amend.stderr
    assert _counter(repo) == 3  # PROJ-1 and PROJ-2 may be in Jira already: never again
    assert allocate("TASK-b003") == "PROJ-3"


def test_rebase_compares_with_every_replaced_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allocate: Allocate
) -> None:
    """A rebase that drops the commit which took PROJ-1..2: the later replaced commit still
    holds its counter, so the numbers are not handed out again."""
    repo = _repo(tmp_path, monkeypatch)
    git(repo, "checkout", "-q", "-b", "feature")
    allocate("TASK-c001", "TASK-c002")
    commit(repo, "two numbers")
    (repo / "notes.txt").write_text("later work\n")
    commit(repo, "later")
    git(repo, "checkout", "-q", "main")
    (repo / "upstream.txt").write_text("upstream\n")
    commit(repo, "upstream")
    git(repo, "checkout", "-q", "feature")
    env = {**os.environ, "GIT_SEQUENCE_EDITOR": "sed -i -e '1s/^pick/drop/'"}
    rebase = subprocess.run(
        ["git", "rebase", "-q", "-i", "main"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert rebase.returncode == 0, rebase.stderr
    assert "TASK-c001" not in git(repo, "show", f"HEAD:{MAPPING}").stdout  # the drop happened
    assert "lowered by the rebase from 3" in rebase.stderr, rebase.stderr
    assert _counter(repo) == 3
    assert allocate("TASK-c003") == "PROJ-3"


def test_pre_commit_post_rewrite_stage_without_stdin_uses_the_amended_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allocate: Allocate, in_process: InProcess
) -> None:
    """pre-commit runs `extid post-merge` for post-rewrite with PRE_COMMIT_REWRITE_COMMAND set
    and nothing on stdin: the commit an amend replaced is HEAD@{1}, not ORIG_HEAD."""
    repo = _repo(tmp_path, monkeypatch, hooks=False)
    _stale_orig_head_on_another_branch(repo, allocate)
    git(repo, "commit", "-q", "--amend", "-m", "amended")
    monkeypatch.setenv("PRE_COMMIT_REWRITE_COMMAND", "amend")
    before = (repo / COUNTERS).read_bytes()
    hook = in_process("post-merge")
    assert (hook.returncode, hook.stderr) == (0, "")
    assert (repo / COUNTERS).read_bytes() == before


@pytest.mark.parametrize("kept", ["ours", "theirs"])
def test_a_rebase_that_dropped_a_mapping_is_reported(tmp_path: Path, kept: str) -> None:
    """`git pull --rebase`, a collision region resolved by hand keeping one side, with git's
    `apply` backend: it runs neither the pre-commit nor the prepare-commit-msg hook (the merge
    backend's `rebase --continue` is refused before the commit: test_replay_guards.py), so
    post-rewrite is where the lost task is named."""
    mine = stopped_pull(tmp_path, backend="apply")
    keep_one_side(mine, kept, counters_from="theirs" if kept == "ours" else "ours")
    env = {**os.environ, "GIT_EDITOR": "true"}
    done = subprocess.run(
        ["git", "rebase", "--continue"], cwd=mine, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    lost = "TASK-bbbb" if kept == "ours" else "TASK-aaaa"
    assert lost in done.stderr and "the rebase dropped it" in done.stderr, done.stderr


def test_a_pick_left_empty_and_dropped_names_a_fix_that_works(tmp_path: Path) -> None:
    """Keeping upstream's files whole leaves the pick empty, and git drops it (no hook runs):
    PROJ-1 is TASK-aaaa's now, so `extid record` would refuse; the report names a new number."""
    mine = stopped_pull(tmp_path, backend="apply")
    git(mine, "checkout", "--ours", "--", MAPPING, COUNTERS)
    git(mine, "add", "-A")
    env = {**os.environ, "GIT_EDITOR": "true"}
    done = subprocess.run(
        ["git", "rebase", "--continue"], cwd=mine, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "jira PROJ-1 of TASK-bbbb on your commits is missing" in done.stderr, done.stderr
    assert "PROJ-1 is another task's now" in done.stderr
    assert "(`extid allocate TASK-bbbb jira --project PROJ`) and commit" in done.stderr
    assert "extid record" not in done.stderr
    ok(extid(mine, "allocate", "TASK-bbbb", "jira", "--project", "PROJ"))
    assert mapping(mine)["mappings"]["TASK-bbbb"]["jira"] == "PROJ-2"


def test_a_lost_mapping_whose_id_is_free_is_recorded_again(tmp_path: Path) -> None:
    """A merge past every hook (none installed but post-merge's backstop) that dropped a
    mapping nobody else holds: `extid record` with its ID is the way back."""
    repo = setup_repo(tmp_path / "repo")
    diverge_in_one_clone(repo)  # TASK-beef PROJ-1 on side, TASK-cafe PROJ-2 on main
    assert without_hooks(repo, "merge", "-q", "-s", "ours", "--no-edit", "side").returncode == 0
    report = extid(repo, "post-merge")
    assert report.returncode == 1
    assert "put it back (`extid record TASK-beef jira PROJ-1`) and commit" in report.stderr
    ok(extid(repo, "record", "TASK-beef", "jira", "PROJ-1"))
    commit(repo, "put back")
    ok(extid(repo, "post-merge"))
