"""Recovery never silently drops newer data (issue 11, item 10).

`.bak` is one write behind and git `HEAD` may be behind or ahead of it: restoring either alone
lost the newest mappings while every command exited 0. Each scenario is a real sequence of
extid commands (and real git where HEAD matters) that lost a mapping before: now the entries
still readable are kept, what HEAD brought is kept, and what would still be lost is refused in
one line naming `extid repair` until the user accepts it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import InProcess, git
from store_helpers import MAPPING_FILE, corrupt_files, snapshot


def allocate_five(run: InProcess, state: Path) -> None:
    """TASK-0001..0005 on github 1..5: `.bak` then lacks the newest, TASK-0005."""
    for i in range(1, 6):
        assert (
            run("--state-dir", str(state), "allocate", f"TASK-000{i}", "github").stdout == f"{i}\n"
        )


def names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_entries_still_readable_in_a_truncated_file_are_kept(
    state_dir: Path, in_process: InProcess
) -> None:
    """A crash cut the tail: every entry is whole, the newest included; `.bak` lacks it."""
    allocate_five(in_process, state_dir)
    m = state_dir / MAPPING_FILE
    data = m.read_bytes()
    m.write_bytes(data[: data.index(b'\n  },\n  "updated"')])
    s = str(state_dir)
    result = in_process("--state-dir", s, "allocate", "TASK-0006", "github")
    assert result.returncode == 0 and result.stdout == "6\n"
    assert "entries still readable in the broken file" in result.stderr
    assert in_process("--state-dir", s, "lookup", "TASK-0005").stdout.startswith("github: 5\n")
    assert len(corrupt_files(state_dir)) == 1


def test_a_cut_off_allocation_is_refused_shown_then_accepted(
    state_dir: Path, in_process: InProcess
) -> None:
    """The newest entry is cut before its ID: the counters say github 5 was issued, no source
    holds its task. Refused (nothing touched), shown by --dry-run (nothing written), restored
    with --accept-loss, which says what was lost; 5 is never issued again."""
    allocate_five(in_process, state_dir)
    m = state_dir / MAPPING_FILE
    data = m.read_bytes()
    m.write_bytes(data[: data.index(b'"TASK-0005"') + 20])
    s = str(state_dir)
    before, listing = snapshot(state_dir), names(state_dir)
    for args in (
        ("allocate", "TASK-0006", "github"),
        ("repair",),
        ("record", "TASK-0006", "jira", "P-1"),
    ):
        result = in_process("--state-dir", s, *args)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, args
        assert "github 5" in result.stderr and "`extid repair --dry-run`" in result.stderr
        assert "`extid repair --accept-loss`" in result.stderr
    assert snapshot(state_dir) == before and names(state_dir) == listing
    dry = in_process("--state-dir", s, "repair", "--dry-run")
    assert dry.returncode == 1
    assert f"would restore {m} from {m}.bak" in dry.stdout
    assert "would lose the task of github 5" in dry.stdout
    assert snapshot(state_dir) == before and names(state_dir) == listing
    done = in_process("--state-dir", s, "repair", "--accept-loss")
    assert done.returncode == 0 and "lost the task of github 5" in done.stdout
    assert in_process("--state-dir", s, "allocate", "TASK-0006", "github").stdout == "6\n"


def commit_two(repo: Path, in_process: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """In `repo`: TASK-000a and TASK-000b on PROJ-1 and PROJ-2, committed."""
    monkeypatch.chdir(repo)
    in_process("init")
    for task in ("TASK-000a", "TASK-000b"):
        in_process("allocate", task, "jira", "--project", "PROJ")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a, b")


def test_what_a_fast_forward_brought_is_kept_though_bak_predates_it(
    repo: Path, in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git writes no `.bak`: after a fast-forward, `.bak` lacks what it brought, HEAD has it."""
    commit_two(repo, in_process, monkeypatch)
    git(repo, "checkout", "-q", "-b", "feature")
    for task in ("TASK-000c", "TASK-000d"):
        in_process("allocate", task, "jira", "--project", "PROJ")
    git(repo, "commit", "-q", "-am", "c, d")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "feature")
    m = repo / ".claude" / "state" / MAPPING_FILE
    m.write_bytes(b"\x00" * 64)  # a file system that zero-filled the blocks after a crash
    result = in_process("allocate", "TASK-000e", "jira", "--project", "PROJ")
    assert result.returncode == 0 and result.stdout == "PROJ-5\n"
    listed = in_process("list").stdout
    assert all(
        f"TASK-000{t}  jira=PROJ-{n}" in listed for t, n in zip("abcde", range(1, 6), strict=True)
    )


def test_without_bak_an_older_head_is_not_restored_silently(
    repo: Path, in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`git clean -X` took the backups; HEAD lacks the allocation made after the commit."""
    commit_two(repo, in_process, monkeypatch)
    in_process("allocate", "TASK-000c", "jira", "--project", "PROJ")
    state = repo / ".claude" / "state"
    for bak in state.glob("*.bak"):
        bak.unlink()
    (state / MAPPING_FILE).write_bytes(b"{ torn")
    before = snapshot(state)
    result = in_process("allocate", "TASK-000d", "jira", "--project", "PROJ")
    assert result.returncode == 1 and "PROJ-3" in result.stderr and "extid repair" in result.stderr
    assert snapshot(state) == before
    dry = in_process("repair", "--dry-run").stdout
    assert "from git HEAD:.claude/state/external_id_mapping.json" in dry and "PROJ-3" in dry
    assert snapshot(state) == before
