"""Hostile repository content: a branch from anyone can change the state files, plant
symlinks, or point the state directory elsewhere. Real git, real hooks, the real CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import git, run_extid
from git_helpers import COUNTERS, MAPPING, STATE, allocate, commit, ok, setup_repo

from extid.errors import UnsafePathError
from extid.store import resolve_state_dir

VICTIM_TASK = "TASK-fade"


def victim_files(outside: Path) -> dict[str, Path]:
    """Valid-looking state outside the repository: reading it would show VICTIM_TASK."""
    outside.mkdir(parents=True, exist_ok=True)
    m = outside / "external_id_mapping.json"
    c = outside / "external_id_counters.json"
    m.write_text(
        json.dumps(
            {
                "mappings": {VICTIM_TASK: {"github": "999"}},
                "updated": "2025-01-01T00:00:00Z",
                "version": "1.0",
            }
        )
    )
    c.write_text(
        json.dumps(
            {
                "counters": {"azure_devops": 1, "github": 1000, "jira": {}, "linear": {}},
                "updated": "2025-01-01T00:00:00Z",
                "version": "1.0",
            }
        )
    )
    return {"mapping": m, "counters": c}


def fingerprint(paths: list[Path]) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def merge_evil(repo: Path, plant: Callable[[Path], None]) -> Any:
    """A branch that plants something in the state directory, merged into main."""
    git(repo, "checkout", "-q", "-b", "evil")
    plant(repo / STATE)
    git(repo, "add", "-A", "-f", STATE)
    git(repo, "commit", "-q", "-m", "evil", "--no-verify")
    git(repo, "checkout", "-q", "main")
    return git(repo, "merge", "--no-edit", "evil", check=False)


def assert_refused(proc: Any, *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    text = proc.stdout + proc.stderr
    for needle in needles:
        assert needle in text, text


# --- symlinks planted by a branch -------------------------------------------------------------


@pytest.mark.parametrize("target", ["mapping", "counters"])
def test_symlinked_state_file(tmp_path: Path, target: str) -> None:
    repo = setup_repo(tmp_path / "repo")
    allocate(repo, "TASK-0001", "github")
    commit(repo, "state")
    victims = victim_files(tmp_path / "outside")
    name = MAPPING if target == "mapping" else COUNTERS

    def plant(state: Path) -> None:
        (repo / name).unlink()
        (repo / name).symlink_to(victims[target])

    merged = merge_evil(repo, plant)
    before = fingerprint(list(victims.values()))
    # The post-merge hook already refused it.
    assert "symlink" in merged.stderr and "Traceback" not in merged.stderr
    for args in (
        ["lookup", VICTIM_TASK],
        ["list"],
        ["allocate", "TASK-0002", "github"],
        ["check"],
        ["check", name],
        ["post-merge"],
    ):
        proc = run_extid(*args, cwd=repo)
        assert_refused(proc, "symlink")
        assert VICTIM_TASK not in proc.stdout + proc.stderr, args
    assert fingerprint(list(victims.values())) == before
    assert (repo / name).is_symlink()


@pytest.mark.parametrize(
    "planted",
    [
        "external_id_mapping.json.bak",
        "external_id_counters.json.bak",
        ".extid.lock",
        ".external_id_mapping.json.tmp-0123456789abcdef",
    ],
)
def test_symlinked_side_file(tmp_path: Path, planted: str) -> None:
    """Backups, the lock and temp names: never written (nor deleted) through a symlink."""
    repo = setup_repo(tmp_path / "repo")
    allocate(repo, "TASK-0001", "github")
    commit(repo, "state")
    victims = victim_files(tmp_path / "outside")
    if planted == ".extid.lock":
        (repo / STATE / planted).unlink()

    def plant(state: Path) -> None:
        (state / planted).unlink(missing_ok=True)  # git replaces an ignored file on merge
        (state / planted).symlink_to(victims["mapping"])

    merge_evil(repo, plant)
    before = fingerprint(list(victims.values()))
    looked = run_extid("lookup", "TASK-0001", cwd=repo)
    assert VICTIM_TASK not in looked.stdout + looked.stderr
    proc = run_extid("allocate", "TASK-0002", "github", cwd=repo)
    if ".tmp-" in planted:
        # Temp names are random: a planted one is never opened. The sweep skips non-files.
        assert (proc.returncode, proc.stdout) == (0, "2\n"), proc.stderr
    else:
        assert_refused(proc, "symlink", planted)
        assert proc.stderr.count("\n") == 1
    assert fingerprint(list(victims.values())) == before
    assert (repo / STATE / planted).is_symlink()


def test_symlinked_state_directory(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "repo")
    victims = victim_files(tmp_path / "outside")

    def plant(state: Path) -> None:
        for child in state.iterdir():
            child.unlink()
        state.rmdir()
        state.symlink_to(tmp_path / "outside")

    merge_evil(repo, plant)
    before = fingerprint(list(victims.values()))
    for args in (["lookup", VICTIM_TASK], ["allocate", "TASK-0002", "github"], ["check"]):
        proc = run_extid(*args, cwd=repo)
        assert_refused(proc)
        assert VICTIM_TASK not in proc.stdout, args
        assert "symlink" in proc.stderr or "outside" in proc.stderr, proc.stderr
    assert fingerprint(list(victims.values())) == before
    assert sorted(os.listdir(tmp_path / "outside")) == sorted(p.name for p in victims.values())


# --- state directory settings ----------------------------------------------------------------


@pytest.mark.parametrize("setting", ["../outside", ".claude/../../outside", "/tmp", "state/../.."])
def test_state_dir_settings_that_leave_the_repo(tmp_path: Path, setting: str) -> None:
    repo = setup_repo(tmp_path / "repo")
    victim_files(tmp_path / "outside")
    before = fingerprint(list((tmp_path / "outside").iterdir()))
    by_option = run_extid("--state-dir", setting, "allocate", "TASK-0002", "github", cwd=repo)
    assert_refused(by_option, "outside the git repository")
    env = {**os.environ, "EXTID_STATE_DIR": setting}
    by_env = run_extid("lookup", VICTIM_TASK, cwd=repo, env=env)
    assert_refused(by_env, "outside the git repository", "EXTID_STATE_DIR")
    assert VICTIM_TASK not in by_env.stdout
    assert fingerprint(list((tmp_path / "outside").iterdir())) == before


def test_state_dir_setting_with_nul_is_refused(tmp_path: Path) -> None:
    # argv and the environment cannot carry a NUL; the API can.
    with pytest.raises(UnsafePathError, match="NUL"):
        resolve_state_dir("state\x00/../../etc")


# --- a merged branch with hostile numbers -----------------------------------------------------


def repo_with_history(tmp_path: Path) -> Path:
    """github 1 in use, github 2 issued and removed (counter 3), PROJ-1 and PROJ-2 in use."""
    repo = setup_repo(tmp_path / "repo")
    allocate(repo, "TASK-0001", "github")
    allocate(repo, "TASK-0002", "jira", "PROJ")
    allocate(repo, "TASK-0003", "jira", "PROJ")
    allocate(repo, "TASK-0005", "github")
    ok(run_extid("remove", "TASK-0005", cwd=repo))
    commit(repo, "base")
    return repo


def edit_documents(repo: Path, edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
    counters = json.loads((repo / COUNTERS).read_text())
    mapping = json.loads((repo / MAPPING).read_text())
    edit(counters["counters"], mapping["mappings"])
    (repo / COUNTERS).write_text(json.dumps(counters, indent=2, sort_keys=True) + "\n")
    (repo / MAPPING).write_text(json.dumps(mapping, indent=2, sort_keys=True) + "\n")


def huge(counters: dict[str, Any], mappings: dict[str, Any]) -> None:
    counters["github"] = 10**30


def unknown_tool(counters: dict[str, Any], mappings: dict[str, Any]) -> None:
    counters["gitlab"] = 5
    mappings["TASK-0001"]["gitlab"] = "7"


def lowered(counters: dict[str, Any], mappings: dict[str, Any]) -> None:
    counters["github"] = 2  # still above every number in use: only history knows 2 was issued


def lowered_below_use(counters: dict[str, Any], mappings: dict[str, Any]) -> None:
    counters["jira"]["PROJ"] = 2


EDITS = {
    "counter 10**30": (huge, "integer with 31 digits is out of range"),
    "unknown tool": (unknown_tool, "unknown tool"),
    "lowered counter": (lowered, "counter github was lowered by the merge from 3 to 2"),
    "counter below use": (lowered_below_use, "counters raised above the used numbers"),
}


@pytest.mark.parametrize("case", list(EDITS))
def test_fast_forward_of_a_hostile_branch(tmp_path: Path, case: str) -> None:
    """No merge driver runs on a fast-forward: the post-merge hook is the guard."""
    edit, message = EDITS[case]
    repo = repo_with_history(tmp_path)
    git(repo, "checkout", "-q", "-b", "evil")
    edit_documents(repo, edit)
    git(repo, "commit", "-q", "-am", "evil", "--no-verify")
    git(repo, "checkout", "-q", "main")
    merged = git(repo, "merge", "--no-edit", "evil", check=False)
    assert "Fast-forward" in merged.stdout
    assert message in merged.stderr, merged.stderr
    assert "Traceback" not in merged.stderr
    if case in ("counter 10**30", "unknown tool"):
        assert_refused(run_extid("check", cwd=repo), message)
        assert_refused(run_extid("post-merge", cwd=repo), message)
    else:  # put right by the hook: the next github/PROJ number was never issued
        assert run_extid("check", cwd=repo).returncode == 0
        assert allocate(repo, "TASK-0009", "github") == "3"
        assert allocate(repo, "TASK-0009", "jira", "PROJ") == "PROJ-3"


@pytest.mark.parametrize("case", list(EDITS))
def test_three_way_merge_of_a_hostile_branch(tmp_path: Path, case: str) -> None:
    """Both sides changed the files: the merge driver runs, then the post-merge hook."""
    edit, message = EDITS[case]
    repo = repo_with_history(tmp_path)
    git(repo, "checkout", "-q", "-b", "evil")
    edit_documents(repo, edit)
    git(repo, "commit", "-q", "-am", "evil", "--no-verify")
    git(repo, "checkout", "-q", "main")
    allocate(repo, "TASK-0004", "linear", "TEAM")
    commit(repo, "main work")
    merged = git(repo, "merge", "--no-edit", "evil", check=False)
    assert "Traceback" not in merged.stderr
    if case == "counter 10**30":
        # The driver cannot read that side: git's line merge with markers, and a message.
        assert merged.returncode != 0
        assert "cannot merge by content" in merged.stderr and message in merged.stderr
    elif case == "unknown tool":
        # The driver refuses that side and names it; the file holds both sides between
        # markers (never git's unmarked mix), which check refuses until someone decides.
        assert merged.returncode != 0 and message in merged.stderr
        assert_refused(run_extid("check", cwd=repo), "unresolved merge conflict")
    else:  # the driver keeps the larger counter: nothing lowered reaches main
        assert merged.returncode == 0, merged.stderr
        assert allocate(repo, "TASK-0009", "github") == "3"
        assert allocate(repo, "TASK-0009", "jira", "PROJ") == "PROJ-3"
