"""The durable file primitives (`extid.store.durable`): atomic replace, backups, quarantine.

Real files; faults are injected only by patching one `os.*` call at one step.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from store_helpers import (
    temp_files,
)

from extid.store import durable
from extid.store.durable import WriteError


def fail_second_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """`os.fsync` fails its second call: 1 is the temp file, 2 the directory after the rename."""
    real = os.fsync
    calls = {"n": 0}

    def second_fails(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", second_fails)


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old\n")
    inode = target.stat().st_ino
    durable.atomic_write(target, b"new\n")
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
        durable.atomic_write(target, b"new\n")
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
        durable.atomic_write(target, b"new\n")
    assert len(calls) == 1


def test_directory_fsync_failure_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old\n")
    fail_second_fsync(monkeypatch)
    with pytest.raises(WriteError, match="unchanged"):
        durable.atomic_write(target, b"new\n")
    monkeypatch.undo()
    assert target.read_bytes() == b"old\n"
    assert temp_files(tmp_path) == []


def test_without_hard_links_a_late_fsync_failure_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old\n")
    monkeypatch.setattr(os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(1, "EPERM")))
    fail_second_fsync(monkeypatch)
    with pytest.raises(WriteError, match="may not survive a crash"):
        durable.atomic_write(target, b"new\n")


def test_create_backup_of_missing_file_is_none(tmp_path: Path) -> None:
    assert durable.create_backup(tmp_path / "nothing") is None


def test_backup_without_hard_links_goes_through_atomic_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"v1\n")

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    assert durable.create_backup(target) == tmp_path / "f.json.bak"
    durable.atomic_write(target, b"v2\n")
    assert (tmp_path / "f.json.bak").read_bytes() == b"v1\n"
    assert target.read_bytes() == b"v2\n"


def test_backup_failure_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"v1\n")
    monkeypatch.setattr(os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(5, "EIO")))
    with pytest.raises(WriteError, match="backup failed"):
        durable.create_backup(target)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["_home", "f.json"]


def test_quarantine_never_overwrites_an_earlier_copy(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"one")
    first = durable.quarantine(str(target))
    target.unlink()
    target.write_bytes(b"two")
    second = durable.quarantine(str(target))
    assert first != second
    assert first is not None and second is not None
    assert (Path(first).read_bytes(), Path(second).read_bytes()) == (b"one", b"two")
