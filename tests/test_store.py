"""The `Store` (`extid.store.core`): load, transactions, the order and modes of its writes,
symlinked state files, and the one-call functions over it.

Real files and real locks; faults are injected only by patching one `os.*` call at one step.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from store_helpers import (
    COUNTERS,
    COUNTERS_FILE,
    MAPPING,
    MAPPING_FILE,
    sample,
    snapshot,
    temp_files,
    write_state,
)

import extid
from extid import document
from extid.errors import (
    ExtidError,
    UnsafePathError,
    ValidationError,
)
from extid.store import State, Store, WriteError, core


def test_missing_files_read_as_empty_and_nothing_is_created(state_dir: Path) -> None:
    state = Store(state_dir).load()
    assert state.mappings == {}
    assert state.counter_values == {"azure_devops": 0, "github": 0, "jira": {}, "linear": {}}
    assert not state_dir.exists()
    assert extid.load_mappings(state_dir) == {}


def test_one_call_functions_round_trip_writes_canonical_files(state_dir: Path) -> None:
    extid.save_mappings(MAPPING["mappings"], state_dir=state_dir)
    extid.save_counters(COUNTERS["counters"], state_dir=state_dir)
    assert extid.load_mappings(state_dir) == MAPPING["mappings"]
    assert extid.load_counters(state_dir) == COUNTERS["counters"]
    for name in (MAPPING_FILE, COUNTERS_FILE):
        data = (state_dir / name).read_bytes()
        assert document.parse(data, name).canonical
        assert json.loads(data)["version"] == "1.0"


def test_save_refuses_invalid_documents_and_writes_nothing(state_dir: Path) -> None:
    write_state(state_dir)
    before = snapshot(state_dir)
    with pytest.raises(ValidationError, match="is not a jira ID"):
        extid.save_mappings({"TASK-a3f2": {"jira": "nope"}}, state_dir=state_dir)
    with pytest.raises(ValidationError, match="at or below"):
        extid.save_counters({**COUNTERS["counters"], "github": 3}, state_dir=state_dir)
    assert snapshot(state_dir) == before


def test_load_reconciles_counters_in_memory_only(state_dir: Path) -> None:
    counters = sample(COUNTERS)
    counters["counters"]["jira"]["PROJ"] = 5  # below PROJ-456, used
    write_state(state_dir, counters=counters)
    before = snapshot(state_dir)
    assert Store(state_dir).load().counter_values["jira"]["PROJ"] == 457
    assert snapshot(state_dir) == before


def test_transaction_without_changes_writes_nothing(state_dir: Path) -> None:
    write_state(state_dir)
    before = snapshot(state_dir)
    with Store(state_dir).transaction() as state:
        assert state.mappings == MAPPING["mappings"]
    assert snapshot(state_dir) == before


def test_transaction_error_discards_changes(state_dir: Path) -> None:
    write_state(state_dir)
    before = snapshot(state_dir)
    with pytest.raises(RuntimeError), Store(state_dir).transaction() as state:
        state.mappings["TASK-a3f2"] = {"jira": "PROJ-500"}
        raise RuntimeError("boom")
    assert snapshot(state_dir) == before


def test_write_sets_updated_and_writes_counters_first(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_state(state_dir)
    order: list[str] = []
    real = core.atomic_write

    def spy(path: str | os.PathLike[str], data: bytes, **options: Any) -> None:
        order.append(os.path.basename(path))
        real(path, data, **options)

    monkeypatch.setattr(core, "atomic_write", spy)
    with Store(state_dir).transaction() as state:
        state.mappings["TASK-a3f2"] = {"jira": "PROJ-900"}
    assert order == [COUNTERS_FILE, MAPPING_FILE]
    mapping = json.loads((state_dir / MAPPING_FILE).read_text())
    counters = json.loads((state_dir / COUNTERS_FILE).read_text())
    assert mapping["updated"] != MAPPING["updated"]
    assert mapping["updated"].endswith("Z")
    assert counters["counters"]["jira"]["PROJ"] == 901  # reconciled on write


def test_missing_directory_is_created_with_umask_modes(state_dir: Path) -> None:
    old = os.umask(0o027)
    try:
        extid.save_mappings({"TASK-a3f2": {"github": "1"}}, state_dir=state_dir / "deep")
    finally:
        os.umask(old)
    assert stat.S_IMODE((state_dir / "deep").stat().st_mode) == 0o750
    assert stat.S_IMODE((state_dir / "deep" / MAPPING_FILE).stat().st_mode) == 0o640


def test_existing_file_mode_is_kept(state_dir: Path) -> None:
    m, _ = write_state(state_dir)
    m.chmod(0o604)
    extid.save_mappings({}, state_dir=state_dir)
    assert stat.S_IMODE(m.stat().st_mode) == 0o604
    assert stat.S_IMODE((state_dir / (MAPPING_FILE + ".bak")).stat().st_mode) == 0o604


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_owner_is_kept_when_root(state_dir: Path) -> None:
    m, _ = write_state(state_dir)
    os.chown(m, 4321, 4321)
    extid.save_mappings({}, state_dir=state_dir)
    assert (m.stat().st_uid, m.stat().st_gid) == (4321, 4321)


def test_failed_transaction_write_keeps_both_files(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_state(state_dir)
    before = {k: v for k, v in snapshot(state_dir).items()}
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space")))
    with pytest.raises(WriteError), Store(state_dir).transaction() as state:
        state.mappings["TASK-a3f2"] = {"jira": "PROJ-900"}
    monkeypatch.undo()
    after = snapshot(state_dir)
    assert after[MAPPING_FILE] == before[MAPPING_FILE]
    assert after[COUNTERS_FILE] == before[COUNTERS_FILE]
    assert temp_files(state_dir) == []


def test_backup_holds_previous_version_as_a_hard_link(state_dir: Path) -> None:
    m, _ = write_state(state_dir)
    first, inode = m.read_bytes(), m.stat().st_ino
    extid.save_mappings({"TASK-a3f2": {"github": "1"}}, state_dir=state_dir)
    bak = state_dir / (MAPPING_FILE + ".bak")
    assert bak.read_bytes() == first
    assert bak.stat().st_ino == inode  # the old file itself, linked: never a copy
    second = m.read_bytes()
    extid.save_mappings({}, state_dir=state_dir)
    assert bak.read_bytes() == second


@pytest.mark.parametrize(
    "name", [MAPPING_FILE, COUNTERS_FILE, MAPPING_FILE + ".bak", ".extid.lock"]
)
def test_symlinked_state_files_are_refused(state_dir: Path, tmp_path: Path, name: str) -> None:
    write_state(state_dir)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    path = state_dir / name
    if path.exists():
        path.unlink()
    path.symlink_to(victim)
    before = snapshot(state_dir)
    with pytest.raises(UnsafePathError, match="symlink"):
        extid.save_mappings({}, state_dir=state_dir)
    assert victim.read_bytes() == b"precious\n"
    assert snapshot(state_dir) == before


def test_symlinked_state_dir_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    write_state(real)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(UnsafePathError):
        Store(tmp_path / "link").load()
    with pytest.raises(UnsafePathError):
        extid.save_mappings({}, state_dir=tmp_path / "link")


def test_unversioned_files_load_and_keep_their_version(state_dir: Path) -> None:
    write_state(state_dir, mapping=MAPPING["mappings"], counters=COUNTERS["counters"])
    mapper = extid.ExternalIDMapper(state_dir)
    assert mapper.external_ids("TASK-E01-b2c4")["jira"] == "PROJ-456"
    assert mapper.allocate("TASK-a3f2", "jira", "PROJ") == "PROJ-457"
    mapping = json.loads((state_dir / MAPPING_FILE).read_text())
    assert "version" not in mapping and mapping["TASK-a3f2"] == {
        "created": mapping["TASK-a3f2"]["created"],
        "jira": "PROJ-457",
    }
    assert json.loads((state_dir / COUNTERS_FILE).read_text())["jira"]["PROJ"] == 458


def test_state_api_shape(state_dir: Path) -> None:
    write_state(state_dir)
    state = Store(state_dir).load()
    assert isinstance(state, State)
    assert state.mapping["mappings"] is state.mappings
    assert state.counters["counters"] is state.counter_values
    assert (state.mapping_version, state.counters_version) == ("1.0", "1.0")


def test_crash_between_the_two_files_leaves_only_a_gap(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_state(state_dir)
    before = snapshot(state_dir)
    real = os.replace

    def mapping_fails(src: str, dst: str) -> None:
        if os.fspath(dst) == str(state_dir / MAPPING_FILE):
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "replace", mapping_fails)
    mapper = extid.ExternalIDMapper(state_dir)
    with pytest.raises(WriteError, match=MAPPING_FILE):
        mapper.allocate("TASK-a3f2", "jira", "PROJ")
    monkeypatch.undo()
    assert snapshot(state_dir)[MAPPING_FILE] == before[MAPPING_FILE]
    assert json.loads((state_dir / COUNTERS_FILE).read_text())["counters"]["jira"]["PROJ"] == 458
    assert mapper.allocate("TASK-a3f2", "jira", "PROJ") == "PROJ-458"  # 457 is a gap
    assert temp_files(state_dir) == []


def test_state_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ExtidError, match="not a directory"):
        Store(tmp_path / "f").load()
