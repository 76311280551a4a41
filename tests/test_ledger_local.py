"""The local ledger (issue 12, section 1): every way git rewinds, forks or deletes the state
files, observed to hand out a number a second time, now gets a fresh number.

Real git in tmp_path; allocations in process through `ExternalIDMapper` (what the CLI calls),
except where two processes or git's own driver and hooks are the point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import InProcess, git
from git_helpers import STATE, ok, run_extid, setup_repo

from extid.errors import ExtidError
from extid.ledger import Ledger, git_common_dir, journal
from extid.mapper import ExternalIDMapper


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "commit", "-q", "--allow-empty", "-m", "root")
    return path


def alloc(repo: Path, task: str, tool: str = "jira") -> str:
    return ExternalIDMapper(repo / STATE).allocate(task, tool, "PROJ" if tool == "jira" else None)


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def ledger_marks(repo: Path) -> dict[str, object]:
    ledger = Ledger.of(repo / STATE)
    assert ledger is not None and ledger.path == repo / ".git" / "extid" / "ledger.jsonl"
    return ledger.read()


@pytest.fixture
def two_allocations(tmp_path: Path) -> Path:
    """A repository whose last two commits each allocated one jira number (PROJ-1, PROJ-2)."""
    repo = new_repo(tmp_path / "repo")
    assert alloc(repo, "TASK-0001") == "PROJ-1"
    commit_all(repo, "PROJ-1")
    assert alloc(repo, "TASK-0002") == "PROJ-2"
    commit_all(repo, "PROJ-2")
    return repo


def test_checkout_of_another_branch_does_not_reissue(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    git(repo, "checkout", "-q", "-b", "side")
    assert alloc(repo, "TASK-0001") == "PROJ-1"
    commit_all(repo, "side")
    git(repo, "checkout", "-q", "main")
    assert alloc(repo, "TASK-0002") == "PROJ-2"


def test_revert_of_an_allocation_commit_does_not_reissue(two_allocations: Path) -> None:
    git(two_allocations, "revert", "--no-edit", "HEAD")
    assert alloc(two_allocations, "TASK-0003") == "PROJ-3"


def test_reset_hard_dropping_the_last_allocation_does_not_reissue(two_allocations: Path) -> None:
    git(two_allocations, "reset", "-q", "--hard", "HEAD~1")
    assert alloc(two_allocations, "TASK-0003") == "PROJ-3"


def test_rebase_dropping_the_last_allocation_does_not_reissue(
    two_allocations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_SEQUENCE_EDITOR", "sed -i -e 's/^pick/drop/'")
    ok(git(two_allocations, "rebase", "-q", "-i", "HEAD~1"))
    assert "TASK-0002" not in (two_allocations / STATE / "external_id_mapping.json").read_text()
    assert alloc(two_allocations, "TASK-0003") == "PROJ-3"


def test_stash_does_not_reissue(two_allocations: Path) -> None:
    assert alloc(two_allocations, "TASK-0003") == "PROJ-3"  # not committed: stashed away
    git(two_allocations, "stash")
    assert alloc(two_allocations, "TASK-0004") == "PROJ-4"


def test_remove_on_one_branch_then_allocate_on_another(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    assert alloc(repo, "TASK-0001") == "PROJ-1"
    commit_all(repo, "PROJ-1")
    git(repo, "checkout", "-q", "-b", "x")
    assert alloc(repo, "TASK-0002") == "PROJ-2"
    assert ExternalIDMapper(repo / STATE).remove("TASK-0002") == {"jira": "PROJ-2"}
    commit_all(repo, "allocated and removed PROJ-2")
    git(repo, "checkout", "-q", "-b", "y", "main")
    assert alloc(repo, "TASK-0003") == "PROJ-3"


def test_record_on_one_branch_raises_the_floor_of_another(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    git(repo, "checkout", "-q", "-b", "side")
    ExternalIDMapper(repo / STATE).record("TASK-0001", "jira", "PROJ-10")
    commit_all(repo, "recorded PROJ-10")
    git(repo, "checkout", "-q", "main")
    assert alloc(repo, "TASK-0002") == "PROJ-11"
    # the files written after an allocation carry the ledger's floor too
    counters = json.loads((repo / STATE / "external_id_counters.json").read_text())
    assert counters["counters"]["jira"] == {"PROJ": 12}


def test_fast_forward_that_deleted_the_state_files(two_allocations: Path) -> None:
    repo = two_allocations
    git(repo, "checkout", "-q", "-b", "cleanup")
    git(repo, "rm", "-q", "-r", STATE)
    git(repo, "commit", "-q", "-m", "drop the state files")
    git(repo, "checkout", "-q", "main")
    ok(git(repo, "merge", "-q", "--ff-only", "cleanup"))
    proc = run_extid("post-merge", cwd=repo)
    assert proc.returncode == 1
    assert "deleted the state files" in proc.stderr and "PROJ" in proc.stderr
    assert alloc(repo, "TASK-0003") == "PROJ-3"


def test_two_worktrees_of_one_clone_share_the_ledger(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "-b", "other", str(other))
    assert alloc(repo, "TASK-0001") == "PROJ-1"
    assert alloc(other, "TASK-0002") == "PROJ-2"
    assert alloc(repo, "TASK-0003", "github") == "1"
    assert alloc(other, "TASK-0004", "github") == "2"
    assert git_common_dir(other / STATE) == git_common_dir(repo / STATE) == repo / ".git"


RACER = """
import sys
from extid.mapper import ExternalIDMapper
m = ExternalIDMapper(sys.argv[1])
for i in range(int(sys.argv[3])):
    print(m.allocate(f"TASK-{sys.argv[2]}{i:02x}", "github"), flush=True)
"""


def test_two_processes_racing_in_two_worktrees_never_share_a_number(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    other = tmp_path / "other"
    git(repo, "worktree", "add", "-q", "-b", "other", str(other))
    each = 15
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path / STATE), prefix, str(each)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for path, prefix in ((repo, "aa"), (other, "bb"))
    ]
    numbers = [int(line) for p in procs for line in p.communicate(timeout=120)[0].split()]
    assert [p.returncode for p in procs] == [0, 0]
    assert sorted(numbers) == list(range(1, 2 * each + 1))


def test_fresh_clone_seeds_from_every_ref(tmp_path: Path) -> None:
    origin = new_repo(tmp_path / "origin")
    assert alloc(origin, "TASK-0001") == "PROJ-1"
    commit_all(origin, "main: PROJ-1")
    git(origin, "checkout", "-q", "-b", "feature")
    for n in range(2, 6):
        assert alloc(origin, f"TASK-000{n}") == f"PROJ-{n}"
    assert alloc(origin, "TASK-0006", "github") == "1"
    commit_all(origin, "feature: PROJ-2..5")
    git(origin, "checkout", "-q", "main")
    ok(git(tmp_path, "clone", "-q", str(origin), "clone"))
    clone = tmp_path / "clone"
    assert git(clone, "branch", "--list").stdout.split() == ["*", "main"]
    # PROJ-2..5 exist only on the remote-tracking branch origin/feature
    assert alloc(clone, "TASK-0007") == "PROJ-6"
    assert alloc(clone, "TASK-0008", "github") == "2"
    assert ledger_marks(clone) == {"github": 2, "jira": {"PROJ": 6}}


def test_seeding_holds_one_version_at_a_time(tmp_path: Path) -> None:
    """A clone with many refs, each its own version of a large mapping file: seeding reads
    them one by one, so its peak memory does not grow with the refs (it held the output for
    every ref at once). Allocations are measured by tracemalloc, the same on every run."""
    import tracemalloc

    from extid import document
    from extid.ledger.seed import seed

    repo = new_repo(tmp_path / "repo")
    mappings = {f"TASK-{i:05x}": {"jira": f"PROJ-{i + 1}"} for i in range(5000)}
    doc = {"mappings": mappings, "updated": "2025-01-08T10:30:00Z", "version": "1.0"}

    def branches(start: int, stop: int) -> None:
        for i in range(start, stop):  # each branch's file differs: a blob of its own
            git(repo, "checkout", "-q", "-b", f"b{i}", "main")
            (repo / STATE).mkdir(parents=True, exist_ok=True)
            mappings[f"TASK-{i:05x}"] = {"jira": f"PROJ-{6000 + i}"}
            (repo / STATE / "external_id_mapping.json").write_bytes(document.canonical(doc))
            commit_all(repo, f"b{i}")

    def peak() -> tuple[dict[object, int], int]:
        seed(repo / STATE)  # the imports
        tracemalloc.start()
        try:
            return seed(repo / STATE), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    branches(0, 4)
    marks, few = peak()
    assert marks == {("jira", "PROJ"): 6003}
    branches(4, 20)
    marks, many = peak()
    assert marks == {("jira", "PROJ"): 6019}  # every branch's version was read
    assert many < 1.2 * few, f"{many} bytes at 20 refs against {few} at 4"


def test_seeding_happens_once(tmp_path: Path) -> None:
    """A ledger, once written, is the clone's memory: refs are read only to build it."""
    repo = new_repo(tmp_path / "repo")
    ledger = Ledger.of(repo / STATE)
    assert ledger is not None
    with ledger.hold() as marks:
        assert marks.values == {}
    assert ledger.path.read_bytes() == b'{"marks": {}, "version": 1}\n'
    git(repo, "checkout", "-q", "-b", "elsewhere")
    (repo / STATE).mkdir(parents=True, exist_ok=True)
    (repo / STATE / "external_id_counters.json").write_text('{"counters": {"github": 9}}')
    commit_all(repo, "a branch written by hand")
    git(repo, "checkout", "-q", "main")
    with ledger.hold() as marks:
        assert marks.values == {}


def test_a_crash_after_the_ledger_leaves_a_gap_never_a_reuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(tmp_path / "repo")
    assert alloc(repo, "TASK-0001") == "PROJ-1"
    real_replace = os.replace

    def crash(src: str, dst: str) -> None:
        raise OSError(5, "injected: the machine went down")

    monkeypatch.setattr(os, "replace", crash)  # the state files' writes, after the ledger's
    with pytest.raises(ExtidError):
        alloc(repo, "TASK-0002")
    monkeypatch.setattr(os, "replace", real_replace)
    assert "TASK-0002" not in (repo / STATE / "external_id_mapping.json").read_text()
    assert alloc(repo, "TASK-0003") == "PROJ-3"


def test_a_torn_last_line_is_skipped_and_the_next_entry_starts_afresh(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    assert alloc(repo, "TASK-0001") == "PROJ-1"
    path = repo / ".git" / "extid" / "ledger.jsonl"
    with path.open("ab") as f:
        f.write(b'{"marks": {"jira": {"PR')  # a crash mid-append: its fsync never returned
    assert ledger_marks(repo) == {"jira": {"PROJ": 1}}
    assert alloc(repo, "TASK-0002") == "PROJ-2"
    assert ledger_marks(repo) == {"jira": {"PROJ": 2}}
    assert path.read_bytes().endswith(b'\n{"marks": {"jira": {"PROJ": 2}}, "version": 1}\n')


def test_the_ledger_is_compacted_past_its_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "COMPACT_AT", 200)
    repo = new_repo(tmp_path / "repo")
    for n in range(1, 8):
        assert alloc(repo, f"TASK-000{n}") == f"PROJ-{n}"
    lines = (repo / ".git" / "extid" / "ledger.jsonl").read_bytes().splitlines()
    assert 1 <= len(lines) <= 5
    assert ledger_marks(repo) == {"jira": {"PROJ": 7}}


def test_no_repository_no_ledger(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    assert Ledger.of(plain / STATE) is None
    assert alloc(plain, "TASK-0001") == "PROJ-1"
    assert not any(p.name == "extid" for p in tmp_path.rglob("*") if p.is_dir())


def test_unreadable_ledger_is_refused_in_one_line(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    alloc(repo, "TASK-0001")
    path = repo / ".git" / "extid" / "ledger.jsonl"
    path.write_bytes(b"{not json\n")
    os.chdir(repo)
    proc = run_extid("allocate", "TASK-0002", "jira", "--project", "PROJ", cwd=repo)
    assert proc.returncode != 0
    assert str(path) in proc.stderr and "move it aside" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert path.read_bytes() == b"{not json\n"


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path]:
    """Two clones of one bare repository, each set up as users do (`extid install --hooks`)."""
    seed = setup_repo(tmp_path / "seed")
    git(tmp_path, "clone", "-q", "--bare", str(seed), "origin.git")
    pair = []
    for name in ("a", "b"):
        git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), name)
        ok(run_extid("install", "--hooks", cwd=tmp_path / name))
        pair.append(tmp_path / name)
    return pair[0], pair[1]


def test_merge_driver_remembers_their_numbers_after_an_aborted_merge(
    clones: tuple[Path, Path],
) -> None:
    a, b = clones
    assert alloc(b, "TASK-0b01") == "PROJ-1"
    commit_all(b, "b: PROJ-1")
    assert [alloc(a, "TASK-0a01"), alloc(a, "TASK-0a02")] == ["PROJ-1", "PROJ-2"]
    commit_all(a, "a: PROJ-1, PROJ-2")
    ok(git(a, "push", "-q", "origin", "main"))
    pull = git(b, "pull", "--no-rebase", "-q", "origin", "main", check=False)
    assert pull.returncode != 0  # PROJ-1 held twice: the driver leaves a conflict
    ok(git(b, "merge", "--abort"))
    assert alloc(b, "TASK-0b02") == "PROJ-3"  # above their PROJ-2, which b never committed
    assert ledger_marks(b)["jira"] == {"PROJ": 3}


def test_post_merge_remembers_a_fast_forward_reset_away(clones: tuple[Path, Path]) -> None:
    a, b = clones
    assert alloc(b, "TASK-0b01", "github") == "1"  # b's ledger exists before the pull
    git(b, "checkout", "-q", "--", ".")
    assert [alloc(a, "TASK-0a01"), alloc(a, "TASK-0a02")] == ["PROJ-1", "PROJ-2"]
    commit_all(a, "a: PROJ-1, PROJ-2")
    ok(git(a, "push", "-q", "origin", "main"))
    ok(git(b, "pull", "-q", "--ff-only", "origin", "main"))  # no driver: the hook sees it
    ok(git(b, "reset", "-q", "--hard", "ORIG_HEAD"))
    assert alloc(b, "TASK-0b02") == "PROJ-3"


def test_resolve_renumber_in_a_rebase_stays_above_commits_not_replayed_yet(
    clones: tuple[Path, Path],
) -> None:
    """The clone's own PROJ-2 is in a commit the rebase replays after the conflict: in no file
    in sight while `resolve --renumber` picks a number, but in the ledger."""
    a, b = clones
    assert alloc(a, "TASK-0a01") == "PROJ-1"
    commit_all(a, "a: PROJ-1")
    ok(git(a, "push", "-q", "origin", "main"))
    assert alloc(b, "TASK-0b01") == "PROJ-1"  # created after a's: the one renumbered
    commit_all(b, "b: PROJ-1")
    assert alloc(b, "TASK-0b02") == "PROJ-2"
    commit_all(b, "b: PROJ-2")
    assert git(b, "pull", "-q", "--rebase", "origin", "main", check=False).returncode != 0
    ok(run_extid("resolve", "--renumber", cwd=b))
    mappings = json.loads((b / STATE / "external_id_mapping.json").read_text())["mappings"]
    assert mappings["TASK-0b01"]["jira"] == "PROJ-3"


@pytest.mark.parametrize("command", [["repair"], ["post-merge", "--on-collision", "renumber"]])
def test_renumbering_a_committed_collision_stays_above_the_ledger(
    tmp_path: Path, in_process: InProcess, command: list[str]
) -> None:
    """PROJ-2 was issued on another branch: in no file on this one, but in the ledger. A
    collision settled here (repair, the post-merge hook) must not hand it out again."""
    repo = new_repo(tmp_path / "repo")
    git(repo, "checkout", "-q", "-b", "side")
    assert [alloc(repo, "TASK-0001"), alloc(repo, "TASK-0002")] == ["PROJ-1", "PROJ-2"]
    commit_all(repo, "side")
    git(repo, "checkout", "-q", "main")  # no state files here: a merge brings in a collision
    (repo / STATE).mkdir(parents=True, exist_ok=True)
    mappings = {
        "TASK-0003": {"created": "2030-01-01T00:00:00Z", "jira": "PROJ-1"},
        "TASK-0004": {"created": "2030-01-01T00:00:01Z", "jira": "PROJ-1"},
    }
    doc = {"mappings": mappings, "updated": "2030-01-01T00:00:01Z", "version": "1.0"}
    (repo / STATE / "external_id_mapping.json").write_text(json.dumps(doc, indent=2) + "\n")
    os.chdir(repo)
    proc = in_process(*command)
    assert "TASK-0004 jira PROJ-1 -> PROJ-3" in proc.stdout + proc.stderr, proc.stderr
    assert ledger_marks(repo)["jira"] == {"PROJ": 3}
