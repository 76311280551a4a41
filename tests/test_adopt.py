"""Adopting extid in a repository (issue 11, items 1 and 2): no lock or backup committed by
`git add -A`, strays git already tracks reported and untracked, and the original tool's files
(counters holding the last number used, no final newline; both tools label them "1.0") made
extid's by `extid install`, each stored counter counted as used."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import InProcess, git, run_extid
from store_helpers import GUARDKIT

from extid.commands.merge_driver import merge_sides
from extid.document import canonical

STATE = ".claude/state"
M, C = "external_id_mapping.json", "external_id_counters.json"
FOREIGN_STAMP = "2025-12-05T12:35:07.157941+00:00"  # how the original tool stamps `updated`


@pytest.fixture(autouse=True)
def _in_repo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)  # in-process commands find the state directory as users do


@pytest.fixture
def no_extid_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only git's directory on PATH: what these tests show must not need `extid` there."""
    git_dir = os.path.dirname(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", os.pathsep.join(dict.fromkeys((git_dir, "/usr/bin", "/bin"))))
    assert shutil.which("extid") is None


def ls_files(repo: Path) -> list[str]:
    return git(repo, "ls-files").stdout.split()


def guardkit_repo(repo: Path, counters: dict[str, Any] | None = None, mappings: Any = None) -> Path:
    """`repo` with the original tool's two files committed (the shared fixture, or its shape
    with other counters / mappings: indent 2, no final newline, its `updated` stamp)."""
    state = repo / STATE
    state.mkdir(parents=True)
    for name in (M, C):
        shutil.copyfile(GUARDKIT / name, state / name)
    if counters is not None:
        doc = {"counters": counters, "updated": FOREIGN_STAMP, "version": "1.0"}
        (state / C).write_text(json.dumps(doc, indent=2, sort_keys=True))
    if mappings is not None:
        doc = {"mappings": mappings, "updated": FOREIGN_STAMP, "version": "1.0"}
        (state / M).write_text(json.dumps(doc, indent=2, sort_keys=True))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "state of the original tool")
    return state


def files(state: Path) -> dict[str, bytes]:
    return {name: (state / name).read_bytes() for name in (M, C)}


# --- item 1: the lock and backups stay out of git ---------------------------------------------


@pytest.mark.usefixtures("no_extid_on_path")
def test_allocate_without_init_then_add_all_commits_no_lock_or_backup(
    repo: Path, in_process: InProcess
) -> None:
    for task in ("TASK-a3f2", "TASK-b3f2"):  # the second write leaves .bak files
        assert in_process("allocate", task, "jira", "--project", "PROJ").returncode == 0
    state = repo / STATE
    assert {".extid.lock", M + ".bak", C + ".bak"} <= set(os.listdir(state))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "allocated")
    assert ls_files(repo) == [f"{STATE}/.gitignore", f"{STATE}/{C}", f"{STATE}/{M}"]


def test_a_users_own_gitignore_is_left_alone(repo: Path, in_process: InProcess) -> None:
    state = repo / STATE
    state.mkdir(parents=True)
    (state / ".gitignore").write_text("*.bak\n")
    assert in_process("allocate", "TASK-a3f2", "github").returncode == 0
    assert (state / ".gitignore").read_text() == "*.bak\n"


def tracked_strays(repo: Path) -> Path:
    """A repository whose state directory has a `.bak` and the lock committed (before any
    `.gitignore`), and the `.gitignore` that now matches them."""
    state = repo / STATE
    state.mkdir(parents=True)
    for name in (M, C):
        shutil.copyfile(GUARDKIT / name, state / name)
    shutil.copyfile(state / M, state / (M + ".bak"))
    (state / ".extid.lock").write_bytes(b"")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "committed with git add -A")
    assert run_extid("init", cwd=repo).returncode == 0  # the .gitignore: now ignored...
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "state .gitignore")
    ignored = git(repo, "check-ignore", "-q", "--no-index", f"{STATE}/{M}.bak", check=False)
    assert ignored.returncode == 0
    assert f"{STATE}/{M}.bak" in ls_files(repo)  # ...and still tracked
    return state


def test_doctor_reports_a_tracked_backup_even_when_ignored(repo: Path) -> None:
    tracked_strays(repo)
    before = git(repo, "status", "--porcelain").stdout
    result = run_extid("doctor", cwd=repo)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for name in (f"{M}.bak", ".extid.lock"):
        at = next(i for i, line in enumerate(lines) if f"{STATE}/{name} is tracked by git" in line)
        assert lines[at].startswith("MISSING") and "git rm --cached" in lines[at + 1]
    assert git(repo, "status", "--porcelain").stdout == before  # a reader


@pytest.mark.parametrize("command", ["install", "repair"])
def test_install_and_repair_untrack_strays_and_keep_them_on_disk(repo: Path, command: str) -> None:
    state = tracked_strays(repo)
    result = run_extid(command, cwd=repo)
    assert result.returncode == 0, result.stderr
    for name in (f"{M}.bak", ".extid.lock"):
        assert f"untracked {STATE}/{name} (git rm --cached" in result.stdout
        assert (state / name).exists()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "untracked")
    assert not [p for p in ls_files(repo) if p.endswith((".bak", ".extid.lock"))]
    assert "is tracked by git" not in run_extid("doctor", cwd=repo).stdout


# --- item 2: the original tool's files --------------------------------------------------------


def test_check_on_a_foreign_file_names_install_in_one_line(
    repo: Path, in_process: InProcess
) -> None:
    state = guardkit_repo(repo)
    before = files(state)
    for args in ([], [str(state / C)], [str(state / M), str(state / C)]):
        result = in_process("check", *args)
        assert result.returncode == 1
        assert result.stdout.count("\n") == 1, result.stdout
        assert f"{C}: $.updated: written by another tool" in result.stdout
        assert "run `extid install`" in result.stdout
    assert files(state) == before


@pytest.mark.usefixtures("no_extid_on_path")
def test_install_adopts_the_guardkit_fixture_in_one_commit(
    repo: Path, in_process: InProcess
) -> None:
    state = guardkit_repo(repo)
    result = in_process("install")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{C}: adopted from another tool" in out and "jira PROJ 1 -> 2" in out
    assert f"updated {FOREIGN_STAMP} -> 2025-12-05T12:35:07Z" in out
    assert f"{M}: canonical form" in out
    assert f"created {state / '.gitignore'}\n" in out
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "adopt extid")
    assert git(repo, "status", "--porcelain", "--ignored").stdout.splitlines() == [
        f"!! {STATE}/.extid.lock",
        f"!! {STATE}/{C}.bak",
        f"!! {STATE}/{M}.bak",
    ]
    assert in_process("check").returncode == 0
    assert in_process("format", "--check").returncode == 0
    counters = json.loads((state / C).read_bytes())
    assert counters["counters"]["jira"] == {"PROJ": 2}
    assert in_process("allocate", "TASK-a3f2", "jira", "--project", "PROJ").stdout == "PROJ-2\n"


def test_adoption_commit_passes_the_installed_pre_commit_hook(repo: Path) -> None:
    guardkit_repo(repo)
    assert run_extid("install", "--hooks", cwd=repo).returncode == 0
    git(repo, "add", "-A")
    committed = git(repo, "commit", "-q", "-m", "adopt extid", check=False)
    assert committed.returncode == 0, committed.stderr
    assert git(repo, "status", "--porcelain").stdout == ""


AHEAD = {"azure_devops": 0, "github": 7, "jira": {"PROJ": 5}, "linear": {}}
THREE = {f"TASK-{n}00a": {"jira": f"PROJ-{n}"} for n in (1, 2, 3)}


@pytest.mark.usefixtures("no_extid_on_path")
@pytest.mark.parametrize("install_first", [True, False])
def test_a_counter_ahead_of_the_mappings_counts_as_used(
    repo: Path, in_process: InProcess, install_first: bool
) -> None:
    """The original tool handed out PROJ-5 (a reservation, never mapped): extid must not."""
    state = guardkit_repo(repo, counters=AHEAD, mappings=THREE)
    if install_first:
        out = in_process("install").stdout
        assert "jira PROJ 5 -> 6" in out and "github 7 -> 8" in out
        assert "azure_devops" not in out  # 0: nothing used, and 1 comes next either way
    allocate = in_process("allocate", "TASK-a3f2", "jira", "--project", "PROJ")
    assert allocate.stdout == "PROJ-6\n"
    assert in_process("allocate", "TASK-a3f2", "github").stdout == "8\n"
    assert json.loads((state / C).read_bytes())["counters"]["jira"] == {"PROJ": 7}


def test_install_twice_changes_nothing_the_second_time(repo: Path, in_process: InProcess) -> None:
    state = guardkit_repo(repo, counters=AHEAD, mappings=THREE)
    assert "adopted from another tool" in in_process("install").stdout
    after_first = files(state)
    second = in_process("install")
    assert second.returncode == 0
    assert str(state) not in second.stdout  # not a line about the state directory
    assert files(state) == after_first
    assert json.loads(after_first[C])["counters"]["jira"] == {"PROJ": 6}


def test_an_extid_file_is_never_bumped(repo: Path, in_process: InProcess) -> None:
    """A counter of extid's own ahead of the mappings (a removed task) is the next number as
    it is: install, check and later writes leave it."""
    for task in ("TASK-a3f2", "TASK-b3f2"):
        in_process("allocate", task, "jira", "--project", "PROJ")
    in_process("remove", "TASK-b3f2")  # PROJ-2 given out, then forgotten: counter 3
    state = repo / STATE
    before = files(state)
    for _ in range(2):
        assert str(state) not in in_process("install").stdout  # no line about its files
        assert in_process("check").returncode == 0
    assert files(state) == before
    assert in_process("allocate", "TASK-c3f2", "jira", "--project", "PROJ").stdout == "PROJ-3\n"
    assert json.loads((state / C).read_bytes())["counters"]["jira"] == {"PROJ": 4}


# --- the merge driver on a side the original tool wrote ---------------------------------------


def cdoc(proj: int, updated: str) -> bytes:
    counters = {"azure_devops": 0, "github": 0, "jira": {"PROJ": proj}, "linear": {}}
    return canonical({"counters": counters, "updated": updated, "version": "1.0"})


def test_a_foreign_side_of_a_counters_merge_counts_its_numbers_as_used() -> None:
    """main adopted (next 6); a branch still on the original tool used PROJ-7 later (stored
    7): the merge must not make 7 the next number again."""
    base = cdoc(5, "2025-12-05T12:00:00.000001+00:00")
    ours = cdoc(6, "2025-12-06T00:00:00Z")
    theirs = cdoc(7, "2025-12-05T13:00:00.5+00:00")
    result, _, _ = merge_sides(base, ours, theirs, C, on_collision=None)
    assert result.doc["counters"]["jira"] == {"PROJ": 8}
    assert result.doc["updated"] == "2025-12-06T00:00:00Z"


def test_a_reader_never_writes_a_foreign_file(repo: Path, in_process: InProcess) -> None:
    state = guardkit_repo(repo, counters=AHEAD, mappings=THREE)
    before = sorted(os.listdir(state)), files(state)
    for args in (["lookup", "TASK-100a"], ["list"], ["check"], ["migrate", "--dry-run"]):
        in_process(*args)
    assert (sorted(os.listdir(state)), files(state)) == before
    assert git(repo, "status", "--porcelain").stdout == ""
