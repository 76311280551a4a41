"""Renumbering through the remote ledger (issue 12, sections 3 and 4): a task the merge driver,
`extid resolve --renumber` or `extid repair` renumbers gets a number reserved on the remote, so
never one another clone reserved since this clone last looked; with the remote out of reach the
merge still completes, from this clone's floor, and says so in one line.

Two clones of a real bare repository (plain path URLs), the driver and hooks installed as users
install them, the remote ledger on in both; git runs the real driver, extid commands run in
process where one process suffices.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import InProcess, git
from git_helpers import COUNTERS, MAPPING, STATE, extid_in, ok, setup_repo

from extid.mapper import ExternalIDMapper


@pytest.fixture
def world(tmp_path: Path, in_process: InProcess) -> tuple[Path, Path, Path]:
    """(the bare remote, clone a, clone b): the state files committed with the driver's
    attributes, both clones set up with `extid install --remote origin`."""
    setup_repo(tmp_path / "seed")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(tmp_path / "seed"), str(bare))
    clones = []
    for name in ("a", "b"):
        git(tmp_path, "clone", "-q", str(bare), name)
        rc, out, err = extid_in(in_process, tmp_path / name, "install", "--remote", "origin")
        assert rc == 0 and "set extid.remote=origin" in out, err
        clones.append(tmp_path / name)
    return bare, clones[0], clones[1]


def allocate(clone: Path, task: str, offline: bool = False) -> str:
    return ExternalIDMapper(clone / STATE, offline=offline).allocate(task, "jira", "PROJ")


def commit(clone: Path, message: str) -> None:
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", message)


def jira(clone: Path) -> dict[str, str]:
    mappings = json.loads((clone / MAPPING).read_bytes())["mappings"]
    return {task: entry["jira"] for task, entry in mappings.items() if "jira" in entry}


def remote_mark(bare: Path) -> int:
    marks = json.loads(git(bare, "cat-file", "blob", "refs/extid/ledger:marks.json").stdout)
    return int(marks["jira:PROJ"])


def pushes(bare: Path) -> int:
    return int(git(bare, "rev-list", "--count", "refs/extid/ledger").stdout)


def collide(world: tuple[Path, Path, Path], tasks: int = 1) -> None:
    """b publishes PROJ-1.. (through the remote ledger) for its tasks, a takes the same numbers
    offline for its own (created later: a's are renumbered), then b reserves PROJ-n+1..n+3 on
    the remote for tasks it has not pushed: numbers a has never seen in any file."""
    _, a, b = world
    assert [allocate(b, f"TASK-0b0{i}") for i in range(tasks)] == [
        f"PROJ-{i + 1}" for i in range(tasks)
    ]
    # Counters files that differ (not only in the second they were written): git runs the
    # driver on them, rather than taking identical changes as they are.
    ExternalIDMapper(b / STATE).allocate("TASK-0b09", "github")
    commit(b, "b: published")
    git(b, "push", "-q", "origin", "main")
    assert [allocate(a, f"TASK-0a0{i}", offline=True) for i in range(tasks)] == [
        f"PROJ-{i + 1}" for i in range(tasks)
    ]
    commit(a, "a: offline")
    reserved = [allocate(b, f"TASK-0c0{i}") for i in range(3)]
    assert reserved == [f"PROJ-{tasks + i + 1}" for i in range(3)]


def test_driver_renumbers_above_numbers_other_clones_reserved(
    world: tuple[Path, Path, Path],
) -> None:
    bare, a, _ = world
    collide(world, tasks=2)  # b reserved PROJ-3..5, in no file a can see
    before = pushes(bare)
    git(a, "config", "extid.onCollision", "renumber")
    pull = git(a, "pull", "-q", "--no-rebase", "origin", "main", check=False)
    assert pull.returncode == 0, pull.stderr  # the merge commit passes the hooks as it is
    got = jira(a)
    assert (got["TASK-0b00"], got["TASK-0b01"]) == ("PROJ-1", "PROJ-2")  # published: kept
    assert sorted([got["TASK-0a00"], got["TASK-0a01"]]) == ["PROJ-6", "PROJ-7"]
    assert remote_mark(bare) >= 7
    assert pushes(bare) == before + 1  # one reservation for the whole merge
    counters = json.loads((a / COUNTERS).read_bytes())["counters"]
    assert counters["jira"]["PROJ"] >= 8
    ok(git(a, "diff", "--quiet", "HEAD"))  # nothing left for post-merge to rewrite
    assert allocate(world[2], "TASK-0d01") == "PROJ-8"


def test_driver_with_the_remote_out_of_reach_completes_and_says_so_once(
    world: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    bare, a, b = world
    collide(world)  # published PROJ-1, b reserved PROJ-2..4
    git(a, "config", "extid.onCollision", "renumber")
    git(a, "fetch", "-q", "origin")
    bare.rename(tmp_path / "away.git")
    merge = git(a, "merge", "-q", "--no-edit", "origin/main", check=False)
    assert merge.returncode == 0, merge.stderr
    said = [line for line in merge.stderr.splitlines() if "in this clone only" in line]
    assert len(said) == 1, merge.stderr
    assert "cannot reach origin" in said[0] and "jira PROJ-2" in said[0]
    assert "Traceback" not in merge.stderr
    assert jira(a)["TASK-0a00"] == "PROJ-2"  # the local floor: above every number a has seen
    state = json.loads((a / ".git" / "extid-remote" / "state.json").read_bytes())
    assert state["unpushed"] == {"jira:PROJ": 2}
    # Back in reach: a's next push (any tool) raises the remote mark past what it issued alone.
    (tmp_path / "away.git").rename(bare)
    git(b, "reset", "-q", "--hard")
    ExternalIDMapper(a / STATE).allocate("TASK-0a09", "github")
    assert remote_mark(bare) == 4  # b's reservations were higher already
    state = json.loads((a / ".git" / "extid-remote" / "state.json").read_bytes())
    assert state["unpushed"] == {}


def test_an_unpushed_renumbering_is_shown_and_settled_by_ledger_repair(
    world: tuple[Path, Path, Path], tmp_path: Path, in_process: InProcess
) -> None:
    bare, a, b = world
    assert allocate(b, "TASK-0b00") == "PROJ-1"
    commit(b, "b: published")
    git(b, "push", "-q", "origin", "main")
    assert allocate(a, "TASK-0a00", offline=True) == "PROJ-1"
    commit(a, "a: offline")
    git(a, "config", "extid.onCollision", "renumber")
    git(a, "fetch", "-q", "origin")
    bare.rename(tmp_path / "away.git")
    ok(git(a, "merge", "-q", "--no-edit", "origin/main"))
    assert jira(a)["TASK-0a00"] == "PROJ-2"
    (tmp_path / "away.git").rename(bare)
    rc, out, err = extid_in(in_process, a, "ledger")
    assert rc == 0 and "issued here while the remote was out of reach: jira:PROJ 2" in out, err
    rc, out, err = extid_in(in_process, a, "ledger", "--repair")
    assert rc == 0 and "marks raised past what was issued here alone (jira:PROJ 2)" in out, err
    assert remote_mark(bare) == 2
    assert allocate(b, "TASK-0b01") == "PROJ-3"  # not a second PROJ-2


def test_resolve_renumber_reserves_on_the_remote(
    world: tuple[Path, Path, Path], in_process: InProcess
) -> None:
    bare, a, _ = world
    collide(world)  # published PROJ-1, b reserved PROJ-2..4
    pull = git(a, "pull", "-q", "--no-rebase", "origin", "main", check=False)
    assert pull.returncode != 0  # a collision is a conflict by default
    rc, _, err = extid_in(in_process, a, "resolve", "--renumber")
    assert rc == 0, err
    assert jira(a)["TASK-0a00"] == "PROJ-5"
    assert remote_mark(bare) >= 5


def test_repair_settles_a_committed_collision_above_the_remote_reservations(
    world: tuple[Path, Path, Path], in_process: InProcess
) -> None:
    bare, a, b = world
    for task in ("TASK-0b01", "TASK-0b02"):
        allocate(b, task)  # remote mark 2, in none of a's files
    allocate(a, "TASK-0a01")  # PROJ-3
    path = a / MAPPING
    doc = json.loads(path.read_bytes())
    doc["mappings"]["TASK-0a02"] = {"created": "2030-01-01T00:00:00Z", "jira": "PROJ-3"}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    rc, out, err = extid_in(in_process, a, "repair")
    assert rc == 0, err
    assert "TASK-0a02 jira PROJ-3 -> PROJ-4" in out
    assert remote_mark(bare) == 4
    assert allocate(b, "TASK-0b03") == "PROJ-5"


def test_a_remote_that_does_not_answer_costs_a_renumbering_its_budget_not_a_hang(
    world: tuple[Path, Path, Path], in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger remote that accepts the connection and never answers (a `sleep` behind git's
    ext:: transport): `resolve --renumber` gives up after the budget and renumbers locally."""
    import extid.ledger.issue

    _, a, _ = world
    collide(world)
    assert git(a, "pull", "-q", "--no-rebase", "origin", "main", check=False).returncode != 0
    git(a, "config", "--global", "protocol.ext.allow", "always")
    git(a, "remote", "add", "silent", "ext::sh -c sleep% 30")
    git(a, "config", "extid.remote", "silent")
    monkeypatch.setattr(extid.ledger.issue, "RENUMBER_BUDGET", 0.5)
    rc, _, err = extid_in(in_process, a, "resolve", "--renumber")
    assert rc == 0, err
    said = [line for line in err.splitlines() if "in this clone only" in line]
    assert len(said) == 1
    assert "cannot reach silent (git ls-remote: no answer within 0.5s)" in said[0]
    assert jira(a)["TASK-0a00"] == "PROJ-2"
