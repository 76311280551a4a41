"""The durable store: state directory, atomic writes, backups, locking, recovery, migrations.

Real files, real locks, a real git repository and real processes; faults are injected only by
patching one `os.*` call at one step.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from store_helpers import (
    COUNTERS,
    COUNTERS_FILE,
    MAPPING,
    MAPPING_FILE,
    committed_repo,
    sample,
    snapshot,
    write_state,
)

import extid
from extid import document, store
from extid.errors import (
    ExtidError,
    LockTimeoutError,
    NewerVersionError,
    UnsafePathError,
    ValidationError,
)
from extid.store import State, Store, WriteError


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def corrupt_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if ".corrupt-" in n)


def temp_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)


# --- state directory -----------------------------------------------------------------------


def test_state_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store.resolve_state_dir() == tmp_path / ".claude" / "state"
    (tmp_path / "repo" / "sub").mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    monkeypatch.chdir(tmp_path / "repo" / "sub")
    assert store.resolve_state_dir() == tmp_path / "repo" / ".claude" / "state"
    monkeypatch.setenv("EXTID_STATE_DIR", "env-state")
    assert store.resolve_state_dir() == tmp_path / "repo" / "sub" / "env-state"
    assert store.resolve_state_dir("../cli") == tmp_path / "repo" / "cli"
    assert Store().state_dir == tmp_path / "repo" / "sub" / "env-state"


def test_git_file_marks_a_toplevel_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text("gitdir: /elsewhere\n")
    monkeypatch.chdir(tmp_path / "wt")
    assert store.resolve_state_dir() == tmp_path / "wt" / ".claude" / "state"


@pytest.mark.parametrize("setting", ["../outside", "/", "a/../../outside", "x\x00y"])
def test_unsafe_state_dir_settings_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "repo")
    with pytest.raises(UnsafePathError):
        store.resolve_state_dir(setting)
    if "\x00" in setting:
        return  # an environment variable cannot hold a NUL
    monkeypatch.setenv("EXTID_STATE_DIR", setting)
    with pytest.raises(UnsafePathError):
        store.resolve_state_dir()


def test_symlink_inside_repo_pointing_out_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    (tmp_path / "repo" / "link").symlink_to(tmp_path / "out")
    monkeypatch.chdir(tmp_path / "repo")
    with pytest.raises(UnsafePathError, match="outside the git repository"):
        store.resolve_state_dir("link/state")
    assert store.resolve_state_dir("inside/state") == tmp_path / "repo" / "inside" / "state"


def test_resolving_the_state_dir_does_not_import_gitpython(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    code = (
        "import sys, extid.store as s; s.Store().load(); "
        "print('git' in sys.modules, 'jsonschema' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


# --- save / load ---------------------------------------------------------------------------


def test_missing_files_read_as_empty_and_nothing_is_created(state_dir: Path) -> None:
    state = Store(state_dir).load()
    assert state.mappings == {}
    assert state.counter_values == {"azure_devops": 0, "github": 0, "jira": {}, "linear": {}}
    assert not state_dir.exists()
    assert extid.load_mappings(state_dir) == {}


def test_seed_api_round_trip_writes_canonical_files(state_dir: Path) -> None:
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
    real = store.atomic_write

    def spy(path: str | os.PathLike[str], data: bytes, **options: Any) -> None:
        order.append(os.path.basename(path))
        real(path, data, **options)

    monkeypatch.setattr(store, "atomic_write", spy)
    with Store(state_dir).transaction() as state:
        state.mappings["TASK-a3f2"] = {"jira": "PROJ-900"}
    assert order == [COUNTERS_FILE, MAPPING_FILE]
    mapping = json.loads((state_dir / MAPPING_FILE).read_text())
    counters = json.loads((state_dir / COUNTERS_FILE).read_text())
    assert mapping["updated"] != MAPPING["updated"]
    assert mapping["updated"].endswith("Z")
    assert counters["counters"]["jira"]["PROJ"] == 901  # reconciled on write


# --- directory and file modes ----------------------------------------------------------------


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


# --- atomic write --------------------------------------------------------------------------


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old\n")
    inode = target.stat().st_ino
    store.atomic_write(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_ino != inode  # a rename, never an in-place write
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("step", ["open", "write", "fsync", "close", "replace"])
def test_failure_before_the_rename_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old\n")
    real = getattr(os, step)
    calls = {"n": 0}

    def failing(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if step != "close" or calls["n"] == 1:
            raise OSError(5, "Input/output error")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, step, failing)
    with pytest.raises(WriteError, match="the file is unchanged"):
        store.atomic_write(target, b"new\n")
    monkeypatch.undo()
    assert target.read_bytes() == b"old\n"
    assert temp_files(tmp_path) == []


def test_fsync_error_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old\n")
    calls: list[int] = []

    def failing(fd: int) -> None:
        calls.append(fd)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(WriteError):
        store.atomic_write(target, b"new\n")
    assert len(calls) == 1


def test_directory_fsync_failure_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old\n")
    real = os.fsync
    calls = {"n": 0}

    def second_fails(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # 1: the temp file, 2: the directory after the rename
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", second_fails)
    with pytest.raises(WriteError, match="unchanged"):
        store.atomic_write(target, b"new\n")
    monkeypatch.undo()
    assert target.read_bytes() == b"old\n"
    assert temp_files(tmp_path) == []


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


# --- backup --------------------------------------------------------------------------------


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


def test_create_backup_of_missing_file_is_none(tmp_path: Path) -> None:
    assert store.create_backup(tmp_path / "nothing") is None


def test_backup_without_hard_links_goes_through_atomic_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"v1\n")

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    assert store.create_backup(target) == tmp_path / "f.json.bak"
    store.atomic_write(target, b"v2\n")
    assert (tmp_path / "f.json.bak").read_bytes() == b"v1\n"
    assert target.read_bytes() == b"v2\n"


# --- symlinks ------------------------------------------------------------------------------


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


# --- locking -------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from extid.store import Store
with Store(sys.argv[1]).lock():
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_lock_timeout_names_the_lock_file(state_dir: Path) -> None:
    write_state(state_dir)
    before = snapshot(state_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(state_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        timeout = pytest.raises(LockTimeoutError, match=str(state_dir / ".extid.lock"))
        with timeout as info, Store(state_dir, lock_timeout=0.01).transaction() as state:
            state.mappings.clear()
        assert "4 attempts" in str(info.value)
    finally:
        holder.communicate("\n", timeout=30)
    assert snapshot(state_dir) == before
    with Store(state_dir, lock_timeout=0.01).transaction() as state:  # free again
        state.mappings["TASK-a3f2"] = {"github": "900"}


def test_nested_transactions_join_and_save_once(state_dir: Path) -> None:
    outer = Store(state_dir, lock_timeout=0.05)
    other = Store(state_dir, lock_timeout=0.05)
    with outer.transaction() as a:
        a.mappings["TASK-a3f2"] = {"github": "1"}
        with outer.transaction() as b, other.transaction() as c, other.lock():
            assert a is b is c
            b.mappings["TASK-b3f2"] = {"github": "2"}
        assert not (state_dir / MAPPING_FILE).exists()  # only the outermost saves
    assert set(extid.load_mappings(state_dir)) == {"TASK-a3f2", "TASK-b3f2"}


def test_threads_exclude_each_other(state_dir: Path) -> None:
    inside = []
    overlap = []

    def work() -> None:
        for _ in range(5):
            with Store(state_dir).transaction() as state:
                inside.append(1)
                if len(inside) > 1:
                    overlap.append(1)
                n = len(state.mappings)
                state.mappings[f"TASK-{n:04x}"] = {"github": str(n + 1)}
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap == []
    assert len(extid.load_mappings(state_dir)) == 20


def test_stale_temp_files_are_swept_under_the_lock(state_dir: Path) -> None:
    write_state(state_dir)
    stale = state_dir / f".{MAPPING_FILE}.tmp-0123456789abcdef"
    stale.write_bytes(b"half a wri")
    keep = state_dir / "notes.tmp-txt"
    keep.write_bytes(b"x")
    Store(state_dir).load()  # readers take no lock and sweep nothing
    assert stale.exists()
    with Store(state_dir).transaction():
        pass
    assert not stale.exists()
    assert keep.exists()


# --- corruption and recovery ---------------------------------------------------------------

CORRUPTIONS = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "conflict markers": lambda data: b"<<<<<<< ours\n" + data + b"=======\n{}\n>>>>>>> theirs\n",
    "schema violation": lambda data: data.replace(b'"PROJ-456"', b'"PROJ-0456"'),
    "not json": lambda data: b"\x00\xff garbage",
}


def make_backup_of_sample(state_dir: Path) -> None:
    """State with a valid `.bak` of both files (the sample), current files one step ahead."""
    write_state(state_dir)
    with Store(state_dir).transaction() as state:
        state.mappings["TASK-a3f2"] = {"jira": "PROJ-457"}


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_corrupt_mapping_is_restored_from_bak(
    state_dir: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    make_backup_of_sample(state_dir)
    m = state_dir / MAPPING_FILE
    bad = CORRUPTIONS[how](m.read_bytes())
    m.write_bytes(bad)
    state = Store(state_dir).load()
    assert state.mappings == MAPPING["mappings"]
    assert state.counter_values["jira"]["PROJ"] == 458  # PROJ-457 was issued: never again
    [aside] = corrupt_files(state_dir)
    assert (state_dir / aside).read_bytes() == bad
    assert aside.startswith(MAPPING_FILE + ".corrupt-2")
    err = capsys.readouterr().err
    assert f"restored from {m}.bak" in err and aside in err
    assert document.parse(m.read_bytes(), "m").canonical  # the restored file is on disk


def test_corrupt_counters_restored_from_stale_bak_never_reissue(state_dir: Path) -> None:
    make_backup_of_sample(state_dir)  # counters.bak says PROJ 457, mapping holds PROJ-457
    (state_dir / COUNTERS_FILE).write_bytes(b'{"counters": {"jira": {"PROJ": 4')
    mapper = extid.ExternalIDMapper(state_dir)
    assert mapper.allocate("TASK-c3f2", "jira", "PROJ") == "PROJ-458"


def test_stale_mapping_backup_never_reissues(state_dir: Path) -> None:
    """The classic loss: the mapping is restored from a backup that lacks the newest IDs."""
    mapper = extid.ExternalIDMapper(state_dir)
    issued = [mapper.allocate(f"TASK-{i:04x}", "jira", "PROJ") for i in range(1, 6)]
    (state_dir / MAPPING_FILE).write_bytes(b"garbage without any ID")
    assert "TASK-0005" not in mapper.mappings()  # restored from the stale .bak
    fresh = [mapper.allocate(f"TASK-{i:04x}", "jira", "PROJ") for i in range(0x10, 0x15)]
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
    assert Store(state_dir).load().mappings == MAPPING["mappings"]
    assert (
        "restored from git HEAD:.claude/state/external_id_mapping.json" in capsys.readouterr().err
    )
    assert len(corrupt_files(state_dir)) == 1


def test_invalid_bak_falls_through_to_git_head(repo_root: Path) -> None:
    state_dir = committed_repo(repo_root)
    (state_dir / (MAPPING_FILE + ".bak")).write_bytes(b"also broken")
    (state_dir / MAPPING_FILE).write_bytes(b"{ broken")
    assert Store(state_dir).load().mappings == MAPPING["mappings"]


@pytest.fixture
def repo_root(tmp_path: Path) -> Path:
    return tmp_path / "repo"


def test_no_source_refuses_clearly_and_touches_nothing(state_dir: Path) -> None:
    write_state(state_dir)
    (state_dir / MAPPING_FILE).write_bytes(b'{"mappings": {"TASK-a3f2": {"jira": "PROJ-900"')
    before = snapshot(state_dir)
    with pytest.raises(ExtidError, match=r"repair --fresh") as info:
        Store(state_dir).load()
    assert str(state_dir / MAPPING_FILE) in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(ExtidError, match="repair --fresh"):
        extid.ExternalIDMapper(state_dir).allocate("TASK-b3f2", "jira", "PROJ")
    assert snapshot(state_dir) == before


def test_repair_fresh_starts_empty_but_keeps_numbers(state_dir: Path) -> None:
    write_state(state_dir)
    bad = b'{"mappings": {"TASK-a3f2": {"jira": "PROJ-900"'
    (state_dir / MAPPING_FILE).write_bytes(bad)
    Store(state_dir).repair(fresh=True)
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
        lambda: Store(state_dir).repair(fresh=True),
        lambda: Store(state_dir).migrate(),
    ):
        with pytest.raises(NewerVersionError, match="newer than this extid"):
            action()
    assert snapshot(state_dir) == before


def test_wrong_document_kind_is_corrupt(state_dir: Path) -> None:
    make_backup_of_sample(state_dir)
    (state_dir / MAPPING_FILE).write_bytes(document.canonical(COUNTERS))
    assert Store(state_dir).load().mappings == MAPPING["mappings"]


# --- migrations through the store ----------------------------------------------------------


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


def test_migrate_dry_run_changes_nothing_then_migrate_keeps_bak(state_dir: Path) -> None:
    m, c = write_state(state_dir, mapping=MAPPING["mappings"], counters=COUNTERS["counters"])
    before = snapshot(state_dir)
    todo = Store(state_dir).migrate(dry_run=True)
    assert [(p.name, old, new) for p, old, new in todo] == [
        (COUNTERS_FILE, "0", "1.0"),
        (MAPPING_FILE, "0", "1.0"),
    ]
    assert snapshot(state_dir) == before
    Store(state_dir).migrate()
    assert json.loads(m.read_text())["version"] == "1.0"
    assert json.loads(c.read_text())["version"] == "1.0"
    assert (state_dir / (MAPPING_FILE + ".bak")).read_bytes() == before[MAPPING_FILE]
    assert Store(state_dir).migrate() == []


def test_state_api_shape(state_dir: Path) -> None:
    write_state(state_dir)
    state = Store(state_dir).load()
    assert isinstance(state, State)
    assert state.mapping["mappings"] is state.mappings
    assert state.counters["counters"] is state.counter_values
    assert (state.mapping_version, state.counters_version) == ("1.0", "1.0")


def test_init_writes_gitignore_and_keeps_user_lines(state_dir: Path) -> None:
    created = Store(state_dir).init()
    assert {p.name for p in created} == {MAPPING_FILE, COUNTERS_FILE, ".gitignore"}
    ignore = (state_dir / ".gitignore").read_text().splitlines()
    assert {".extid.lock", "*.bak", "*.corrupt-*", ".*.tmp-*"} <= set(ignore)
    (state_dir / ".gitignore").write_text("mine\n")
    assert Store(state_dir).init() == []
    lines = (state_dir / ".gitignore").read_text().splitlines()
    assert lines[0] == "mine" and "*.bak" in lines


def test_gitignore_really_ignores_the_side_files(repo_root: Path) -> None:
    state_dir = committed_repo(repo_root)
    Store(state_dir).init()
    extid.save_mappings({}, state_dir=state_dir)
    (state_dir / f".{MAPPING_FILE}.tmp-0123456789abcdef").write_bytes(b"")
    (state_dir / f"{MAPPING_FILE}.corrupt-20260101T000000Z").write_bytes(b"")
    from store_helpers import git

    status = git(repo_root, "status", "--porcelain", "--untracked-files=all")
    assert sorted(line[3:] for line in status.splitlines()) == [
        ".claude/state/.gitignore",
        ".claude/state/external_id_mapping.json",
    ]
    assert (state_dir / (MAPPING_FILE + ".bak")).exists()


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


def test_warning_names_the_file_once(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_backup_of_sample(state_dir)
    (state_dir / MAPPING_FILE).write_bytes(b"{")
    Store(state_dir).load()
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"extid: warning: {state_dir / MAPPING_FILE} was corrupt (line 1")


def test_without_hard_links_recovery_copies_aside(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_backup_of_sample(state_dir)
    (state_dir / MAPPING_FILE).write_bytes(b"{")

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "link", no_links)
    assert Store(state_dir).load().mappings == MAPPING["mappings"]
    [aside] = corrupt_files(state_dir)
    assert (state_dir / aside).read_bytes() == b"{"


def test_without_hard_links_a_late_fsync_failure_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old\n")
    real = os.fsync
    calls = {"n": 0}

    def second_fails(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(1, "EPERM")))
    monkeypatch.setattr(os, "fsync", second_fails)
    with pytest.raises(WriteError, match="may not survive a crash"):
        store.atomic_write(target, b"new\n")


def test_backup_failure_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"v1\n")
    monkeypatch.setattr(os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(5, "EIO")))
    with pytest.raises(WriteError, match="backup failed"):
        store.create_backup(target)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["_home", "f.json"]


def test_maintenance_on_a_missing_directory_does_nothing(state_dir: Path) -> None:
    assert Store(state_dir).repair() == []
    assert Store(state_dir).migrate() == []
    assert not state_dir.exists()


def test_state_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ExtidError, match="not a directory"):
        Store(tmp_path / "f").load()


def test_quarantine_never_overwrites_an_earlier_copy(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"one")
    first = store.quarantine(str(target))
    target.unlink()
    target.write_bytes(b"two")
    second = store.quarantine(str(target))
    assert first != second
    assert first is not None and second is not None
    assert (Path(first).read_bytes(), Path(second).read_bytes()) == (b"one", b"two")


def test_scrape_numbers_reads_ids_and_counters_from_any_bytes() -> None:
    data = (
        b'{"mappings": {"T": {"jira": "PROJ-41", "github": "9"}}, '
        b'"counters": {"azure_devops": 77, "linear": {"TEAM": 5, "OPS": 3}}, "jira": "BAD-0"'
    )
    assert store.scrape_numbers(data) == {
        ("jira", "PROJ"): 42,
        ("github", None): 10,
        ("azure_devops", None): 77,
        ("linear", "TEAM"): 5,
        ("linear", "OPS"): 3,
    }


def test_python_callers_name_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The repository check guards what users set; a program's explicit path is its own."""
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "repo")
    assert Store(tmp_path / "elsewhere").state_dir == tmp_path / "elsewhere"
    assert Store("rel").state_dir == tmp_path / "repo" / "rel"
    with pytest.raises(UnsafePathError):
        Store("a\x00b")
    monkeypatch.setenv("EXTID_STATE_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(UnsafePathError):
        Store()


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_bad_lock_timeout_setting_is_a_user_error(
    monkeypatch: pytest.MonkeyPatch, state_dir: Path, value: str
) -> None:
    monkeypatch.setenv("EXTID_LOCK_TIMEOUT", value)
    with pytest.raises(ExtidError, match="EXTID_LOCK_TIMEOUT"):
        Store(state_dir)
    monkeypatch.setenv("EXTID_LOCK_TIMEOUT", "2.5")
    assert Store(state_dir).lock_timeout == 2.5
