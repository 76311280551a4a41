"""A committed collision (two tasks on one external ID, e.g. a hand resolution a teammate
pushed) is settled by `extid repair`, and every message reporting it names that command
(issue 11, item 11). Before, `resolve` said nothing was conflicted and `repair` that the files
were sound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import InProcess, git
from store_helpers import MAPPING_FILE, snapshot


@pytest.fixture
def collided(repo: Path, in_process: InProcess, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose HEAD holds PROJ-1 for TASK-000a (created first) and TASK-000b."""
    monkeypatch.chdir(repo)
    for task in ("TASK-000a", "TASK-000b"):
        assert in_process("allocate", task, "jira", "--project", "PROJ").returncode == 0
    state = repo / ".claude" / "state"
    m = state / MAPPING_FILE
    doc = json.loads(m.read_text())
    doc["mappings"]["TASK-000a"]["created"] = "2026-01-01T00:00:00Z"
    doc["mappings"]["TASK-000b"]["created"] = "2026-01-02T00:00:00Z"
    doc["mappings"]["TASK-000b"]["jira"] = "PROJ-1"  # a teammate's hand resolution
    m.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hand-resolved merge")
    return state


def test_every_reader_of_the_collision_names_repair(collided: Path, in_process: InProcess) -> None:
    for args in (("check",), ("resolve",), ("doctor",)):
        result = in_process(*args)
        assert result.returncode == 1, args
        assert "jira PROJ-1 is also held by" in result.stdout + result.stderr, args
        assert "`extid repair`" in result.stdout + result.stderr, args
    listed = in_process("list")
    assert listed.returncode == 0 and "TASK-000b  jira=PROJ-1" in listed.stdout
    assert "jira PROJ-1 is held by TASK-000a and TASK-000b" in listed.stderr
    assert "`extid repair`" in listed.stderr
    refused = in_process("allocate", "TASK-000c", "jira", "--project", "PROJ")
    assert refused.returncode == 1 and "`extid repair`" in refused.stderr


def test_repair_renumbers_the_task_created_later(collided: Path, in_process: InProcess) -> None:
    before = snapshot(collided)
    dry = in_process("repair", "--dry-run")
    assert dry.returncode == 1
    assert "would renumber TASK-000b jira PROJ-1 -> PROJ-3 (TASK-000a keeps it)" in dry.stdout
    assert snapshot(collided) == before
    done = in_process("repair")
    assert done.returncode == 0 and "renumbered TASK-000b jira PROJ-1 -> PROJ-3" in done.stdout
    assert in_process("check").returncode == 0
    listed = in_process("list").stdout
    assert "TASK-000a  jira=PROJ-1" in listed and "TASK-000b  jira=PROJ-3" in listed
    assert "nothing to repair" in in_process("repair").stdout


def test_repair_keep_chooses_the_task_that_keeps_the_id(
    collided: Path, in_process: InProcess
) -> None:
    done = in_process("repair", "--keep", "TASK-000b")
    assert done.returncode == 0
    assert "renumbered TASK-000a jira PROJ-1 -> PROJ-3 (TASK-000b keeps it)" in done.stdout
    listed = in_process("list").stdout
    assert "TASK-000a  jira=PROJ-3" in listed and "TASK-000b  jira=PROJ-1" in listed
    unknown = in_process("repair", "--keep", "TASK-0fff")
    assert unknown.returncode == 2 and "TASK-0fff" in unknown.stderr
