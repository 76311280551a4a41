"""Recovery of corrupt state files (`extid.store.recovery`): restored from `.bak` or git
`HEAD`, set aside, counters raised so nothing is issued twice; refused when there is no
source. Only writers recover (a reader reports the file and changes nothing), and only bytes
that are not JSON: a file that parses but breaks the rules is refused, never replaced."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from store_helpers import (
    COUNTERS,
    COUNTERS_FILE,
    MAPPING,
    MAPPING_FILE,
    committed_repo,
    corrupt_files,
    sample,
    snapshot,
    write_state,
)

import extid
from extid import document
from extid.errors import (
    ExtidError,
    NewerVersionError,
)
from extid.store import State, Store, salvage

CORRUPTIONS = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "conflict markers": lambda data: b"<<<<<<< ours\n" + data + b"=======\n{}\n>>>>>>> theirs\n",
    "not json": lambda data: b"\x00\xff garbage",
}


def recovered(state_dir: Path) -> State:
    """The state as a writer loads it: an empty transaction, which recovers corrupt files."""
    with Store(state_dir).transaction() as state:
        return state


def make_backup_of_sample(state_dir: Path) -> None:
    """State with a valid `.bak` of both files (the sample), current files one step ahead."""
    write_state(state_dir)
    with Store(state_dir).transaction() as state:
        state.mappings["TASK-a3f2"] = {"jira": "PROJ-457"}


def make_backup_without_loss(state_dir: Path) -> None:
    """The sample state whose `.bak` holds the same entries (a write changed only `updated`)."""
    write_state(state_dir)
    with Store(state_dir).transaction() as state:
        state.mapping["updated"] = "2025-01-09T00:00:00Z"


@pytest.mark.parametrize("how", sorted(set(CORRUPTIONS) - {"conflict markers"}))
def test_a_restore_that_would_lose_the_newest_mapping_is_refused_then_accepted(
    state_dir: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    """`.bak` is one write behind: it lacks PROJ-457, which the counters say was issued."""
    make_backup_of_sample(state_dir)
    m = state_dir / MAPPING_FILE
    bad = CORRUPTIONS[how](m.read_bytes())
    m.write_bytes(bad)
    with pytest.raises(ExtidError, match="extid repair"):
        Store(state_dir).load()  # a reader only reports it
    before = snapshot(state_dir)
    with pytest.raises(ExtidError, match="PROJ-457") as info:
        recovered(state_dir)
    assert "extid repair --accept-loss" in str(info.value) and "\n" not in str(info.value)
    assert snapshot(state_dir) == before
    dry = Store(state_dir).repair(dry_run=True)
    assert any("lose" in line and "PROJ-457" in line for line in dry)
    assert snapshot(state_dir) == before
    actions = Store(state_dir).repair(accept_loss=True)
    assert any(line.startswith("lost ") and "PROJ-457" in line for line in actions)
    state = Store(state_dir).load()
    assert state.mappings == MAPPING["mappings"]
    assert state.counter_values["jira"]["PROJ"] == 458  # PROJ-457 was issued: never again
    [aside] = corrupt_files(state_dir)
    assert (state_dir / aside).read_bytes() == bad
    assert aside.startswith(MAPPING_FILE + ".corrupt-2")
    # repair reports the restore as its action (once: not again as a warning on stderr)
    assert any(f"restored from {m}.bak" in line and aside in line for line in actions)
    assert "restored from" not in capsys.readouterr().err
    assert document.parse(m.read_bytes(), "m").canonical  # the restored file is on disk


def test_stray_conflict_markers_are_read_through(state_dir: Path) -> None:
    """Every entry is still readable between the markers: nothing is lost, nothing asked."""
    make_backup_of_sample(state_dir)
    m = state_dir / MAPPING_FILE
    m.write_bytes(CORRUPTIONS["conflict markers"](m.read_bytes()))
    state = recovered(state_dir)
    assert state.mappings["TASK-a3f2"] == {"jira": "PROJ-457"}
    assert len(corrupt_files(state_dir)) == 1


def test_corrupt_counters_restored_from_stale_bak_never_reissue(state_dir: Path) -> None:
    make_backup_of_sample(state_dir)  # counters.bak says PROJ 457, mapping holds PROJ-457
    (state_dir / COUNTERS_FILE).write_bytes(b'{"counters": {"jira": {"PROJ": 4')
    mapper = extid.ExternalIDMapper(state_dir)
    assert mapper.allocate("TASK-c3f2", "jira", "PROJ") == "PROJ-458"


def test_stale_mapping_backup_never_reissues(state_dir: Path) -> None:
    """The classic loss: a backup that lacks the newest IDs, restored only when accepted."""
    mapper = extid.ExternalIDMapper(state_dir)
    issued = [mapper.allocate(f"TASK-{i:04x}", "jira", "PROJ") for i in range(1, 6)]
    (state_dir / MAPPING_FILE).write_bytes(b"garbage without any ID")
    with pytest.raises(ExtidError, match=r"PROJ-5 .*extid repair --accept-loss"):
        mapper.allocate("TASK-0010", "jira", "PROJ")
    Store(state_dir).repair(accept_loss=True)
    fresh = [mapper.allocate(f"TASK-{i:04x}", "jira", "PROJ") for i in range(0x10, 0x15)]
    assert "TASK-0005" not in mapper.mappings()  # restored from the stale .bak, as accepted
    assert not set(fresh) & set(issued)


def test_both_files_corrupt_restore_never_reissues(state_dir: Path) -> None:
    mapper = extid.ExternalIDMapper(state_dir)
    issued = [mapper.allocate(f"TASK-{i:04x}", "github") for i in range(1, 6)]
    for name in (MAPPING_FILE, COUNTERS_FILE):  # crash-truncated: the tail is lost
        path = state_dir / name
        path.write_bytes(path.read_bytes()[:-40])
    assert mapper.allocate("TASK-0100", "github") not in issued
    assert len(corrupt_files(state_dir)) == 2


def test_corrupt_file_restored_from_git_head(
    repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = committed_repo(repo_root)
    m = state_dir / MAPPING_FILE
    m.write_bytes(b"{ broken")
    assert recovered(state_dir).mappings == MAPPING["mappings"]
    assert (
        "restored from git HEAD:.claude/state/external_id_mapping.json" in capsys.readouterr().err
    )
    assert len(corrupt_files(state_dir)) == 1


def test_invalid_bak_falls_through_to_git_head(repo_root: Path) -> None:
    state_dir = committed_repo(repo_root)
    (state_dir / (MAPPING_FILE + ".bak")).write_bytes(b"also broken")
    (state_dir / MAPPING_FILE).write_bytes(b"{ broken")
    assert recovered(state_dir).mappings == MAPPING["mappings"]


def test_no_source_refuses_clearly_and_touches_nothing(state_dir: Path) -> None:
    write_state(state_dir)
    (state_dir / MAPPING_FILE).write_bytes(b'{"mappings": {"TASK-a3f2": {"jira": "PROJ-900"')
    before = snapshot(state_dir)
    with pytest.raises(ExtidError, match=r"PROJ-900.*repair --accept-loss") as info:
        recovered(state_dir)
    assert str(state_dir / MAPPING_FILE) in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(ExtidError, match="repair --accept-loss"):
        extid.ExternalIDMapper(state_dir).allocate("TASK-b3f2", "jira", "PROJ")
    assert snapshot(state_dir) == before


def test_repair_fresh_starts_empty_but_keeps_numbers(state_dir: Path) -> None:
    write_state(state_dir)
    bad = b'{"mappings": {"TASK-a3f2": {"jira": "PROJ-900"'
    (state_dir / MAPPING_FILE).write_bytes(bad)
    Store(state_dir).repair(accept_loss=True)
    state = Store(state_dir).load()
    assert state.mappings == {}
    assert state.counter_values["jira"]["PROJ"] == 901  # from the corrupt bytes
    [aside] = corrupt_files(state_dir)
    assert (state_dir / aside).read_bytes() == bad


def test_newer_version_is_refused_never_quarantined(state_dir: Path) -> None:
    newer = sample(MAPPING)
    newer["version"] = "2.0"
    newer["something_new"] = True
    write_state(state_dir, mapping=newer)
    before = snapshot(state_dir)
    for action in (
        lambda: Store(state_dir).load(),
        lambda: extid.ExternalIDMapper(state_dir).allocate("TASK-a3f2", "github"),
        lambda: Store(state_dir).repair(accept_loss=True),
        lambda: Store(state_dir).migrate(),
    ):
        with pytest.raises(NewerVersionError, match="newer than this extid"):
            action()
    assert snapshot(state_dir) == before


@pytest.mark.parametrize(
    "how",
    [
        lambda data: data.replace(b'"PROJ-457"', b'"PROJ-0457"'),  # schema
        lambda data: document.canonical(COUNTERS),  # the wrong kind of document
        lambda data: data.replace(b'"jira"', b'"jira": "PROJ-457", "jira"'),  # duplicate key
    ],
    ids=["schema violation", "wrong kind", "duplicate key"],
)
def test_parseable_file_breaking_the_rules_is_refused_never_restored(
    state_dir: Path, how: Callable[[bytes], bytes]
) -> None:
    """The user's edit, or a merge's result: restoring `.bak` would drop the newest mapping."""
    make_backup_of_sample(state_dir)
    m = state_dir / MAPPING_FILE
    m.write_bytes(how(m.read_bytes()))
    before = snapshot(state_dir)
    for action in (
        lambda: Store(state_dir).load(),
        lambda: recovered(state_dir),
        lambda: Store(state_dir).repair(),
        lambda: Store(state_dir).repair(accept_loss=True),
        lambda: extid.ExternalIDMapper(state_dir).allocate("TASK-b3f2", "github"),
    ):
        with pytest.raises(ExtidError, match="by hand") as info:
            action()
        assert str(m) in str(info.value) and "\n" not in str(info.value)
        assert "extid repair" not in str(info.value)
    assert snapshot(state_dir) == before


def test_warning_names_the_file_once(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_backup_without_loss(state_dir)
    (state_dir / MAPPING_FILE).write_bytes(b"{")
    recovered(state_dir)
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"extid: warning: {state_dir / MAPPING_FILE} was corrupt (line 1")


def test_without_hard_links_recovery_copies_aside(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_backup_without_loss(state_dir)
    (state_dir / MAPPING_FILE).write_bytes(b"{")

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "link", no_links)
    assert recovered(state_dir).mappings == MAPPING["mappings"]
    [aside] = corrupt_files(state_dir)
    assert (state_dir / aside).read_bytes() == b"{"


def test_scrape_numbers_reads_ids_and_counters_from_any_bytes() -> None:
    data = (
        b'{"mappings": {"T": {"jira": "PROJ-41", "github": "9"}}, '
        b'"counters": {"azure_devops": 77, "linear": {"TEAM": 5, "OPS": 3}}, "jira": "BAD-0"'
    )
    assert salvage.scrape_numbers(data) == {
        ("jira", "PROJ"): 42,
        ("github", None): 10,
        ("azure_devops", None): 77,
        ("linear", "TEAM"): 5,
        ("linear", "OPS"): 3,
    }
