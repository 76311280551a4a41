"""Durable writes under faults: injected I/O errors at every syscall of a save, the
syscall order, a simulated crash that drops everything not yet fsynced, real ENOSPC/EROFS
mounts, an unprivileged user, and file modes/owners."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import stat
import subprocess
import tempfile
import traceback  # imported before the fork: uid 65534 cannot read the stdlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hostile_helpers import (
    COUNTERS_FILE,
    MAPPING_FILE,
    Call,
    Syscalls,
    snapshot,
    write_state,
)

from extid import checkfiles
from extid import mapper as mapper_module
from extid.errors import ExtidError
from extid.mapper import ExternalIDMapper
from extid.store import Store, codec, durable

FIXED_TIME = "2026-11-26T00:00:00Z"
ERRNOS = (errno.EIO, errno.ENOSPC, errno.EXDEV)


@pytest.fixture(autouse=True)
def _fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same `updated`/`created` in every run, so "the new bytes" are well defined."""
    monkeypatch.setattr(codec, "utc_now", lambda: FIXED_TIME)
    monkeypatch.setattr(mapper_module, "utc_now", lambda: FIXED_TIME)


def temp_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)


def lock_is_free(lock_path: Path) -> bool:
    """flock locks belong to an open file description: a fresh one conflicts even in-process."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also drops our flock
    return True


def allocate_once(state_dir: Path) -> str:
    return ExternalIDMapper(Store(state_dir, lock_timeout=1)).allocate("TASK-beef", "github")


def reference_save(tmp_path: Path) -> tuple[list[Call], bytes, bytes]:
    """The fault-free save: its syscalls and the new bytes of both files."""
    directory = tmp_path / "reference"
    write_state(directory)
    spy = Syscalls()
    with pytest.MonkeyPatch.context() as mp:
        spy.install(mp)
        assert allocate_once(directory) == "235"
    return (
        spy.calls,
        (directory / MAPPING_FILE).read_bytes(),
        (directory / COUNTERS_FILE).read_bytes(),
    )


def test_save_syscall_order(tmp_path: Path) -> None:
    """write < fsync(file) < replace < fsync(directory), for each file, counters first."""
    calls, _, _ = reference_save(tmp_path)
    directory = str(tmp_path / "reference")
    for name in (COUNTERS_FILE, MAPPING_FILE):
        temp = next(c.target for c in calls if c.name == "open" and f".{name}.tmp-" in c.target)
        write = max(c.index for c in calls if c.name == "write" and c.target == temp)
        fsync = next(c.index for c in calls if c.name == "fsync" and c.target == temp)
        replace = next(c.index for c in calls if c.name == "replace" and c.target == temp)
        dir_fsync = next(
            c.index
            for c in calls
            if c.name == "fsync" and c.target == directory and c.index > replace
        )
        assert write < fsync < replace < dir_fsync, name
    first_replace = {c.target for c in calls if c.name == "replace" and ".bak" not in c.target}
    assert len(first_replace) == 2
    order = [c.target for c in calls if c.name == "replace" and ".bak" not in c.target]
    assert COUNTERS_FILE in order[0] and MAPPING_FILE in order[1]


def _count_steps() -> int:
    """K: the number of syscalls of a save (computed once, outside any test's tmp_path)."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(codec, "utc_now", lambda: FIXED_TIME)
        mp.setattr(mapper_module, "utc_now", lambda: FIXED_TIME)
        mp.chdir(tmp)  # collection runs inside the project's own repository
        calls, _, _ = reference_save(Path(tmp))
    return len(calls)


K = _count_steps()


def test_a_save_has_every_step_kind(tmp_path: Path) -> None:
    assert K >= 20
    calls, _, _ = reference_save(tmp_path)
    assert {c.name for c in calls} >= {"open", "write", "fsync", "close", "link", "replace"}


@pytest.mark.parametrize("error", ERRNOS, ids=[errno.errorcode[e] for e in ERRNOS])
@pytest.mark.parametrize("k", range(1, K + 1))
def test_fault_at_step_k(tmp_path: Path, k: int, error: int) -> None:
    _, new_m, new_c = reference_save(tmp_path)
    directory = tmp_path / "s"
    old_m, old_c = (p.read_bytes() for p in write_state(directory))
    spy = Syscalls(fail_at=k, error=error)
    with pytest.MonkeyPatch.context() as mp:
        spy.install(mp)
        try:
            result: str | None = allocate_once(directory)
        except ExtidError as e:
            result = None
            message = str(e)
            assert "\n" not in message
            assert os.strerror(error) in message
            assert str(directory) in message
    failed = spy.failed
    assert failed is not None and failed.index == k
    m, c = (directory / MAPPING_FILE).read_bytes(), (directory / COUNTERS_FILE).read_bytes()
    assert (m, c) in {(old_m, old_c), (old_m, new_c), (new_m, new_c)}  # counters first
    if result is None:
        being_written = MAPPING_FILE if c == new_c else COUNTERS_FILE
        assert (directory / being_written).read_bytes() in (old_m, old_c)  # the old file intact
        assert temp_files(directory) == []
        if failed.name == "fsync" and failed.target != str(directory):
            later = spy.calls[k:]
            assert not any(c.name in ("fsync", "replace") for c in later), "retried after fsync"
    else:  # the fault hit a step with a fallback (EXDEV on link) or a cleanup (unlink)
        assert result == "235" and (m, c) == (new_m, new_c)
    assert lock_is_free(directory / ".extid.lock")
    assert (
        checkfiles.check_paths([str(directory / MAPPING_FILE), str(directory / COUNTERS_FILE)])
        == []
    )
    # The store is usable at once, never re-issues 235, and sweeps what a fault left behind.
    again = ExternalIDMapper(Store(directory, lock_timeout=1)).allocate("TASK-cafe", "github")
    assert again == ("236" if c == new_c else "235")
    assert temp_files(directory) == []


# --- a crash that drops everything not yet fsynced ----------------------------------------


@dataclass
class Inode:
    data: bytes = b""
    synced: bytes = b""


@dataclass
class CrashPoint:
    durable: dict[str, int]
    pending: list[tuple[str, str, str | None, int]]
    synced: dict[int, bytes]
    acknowledged: bool


class CrashFS:
    """In the style of LevelDB's FaultInjectionTestEnv: the real calls happen, and beside them a
    model of what a power cut would leave. File data is durable only once its fd is fsynced;
    names (create, link, rename, unlink) only once the directory is fsynced - until then any
    prefix of them may have reached the disk. After every call a crash point is recorded."""

    def __init__(self, directory: Path) -> None:
        self.directory = str(directory)
        self.inodes: dict[int, Inode] = {}
        self.names: dict[str, int] = {}
        for name in os.listdir(directory):
            data = (directory / name).read_bytes() if (directory / name).is_file() else b""
            self.names[name] = self._new_inode(data, data)
        self.durable = dict(self.names)
        # (op, name, second name, inode) since the last directory fsync
        self.pending: list[tuple[str, str, str | None, int]] = []
        self.fds: dict[int, int | None] = {}  # fd -> inode, None for the directory
        self.points: list[CrashPoint] = []
        self.acknowledged = False

    def _new_inode(self, data: bytes = b"", synced: bytes = b"") -> int:
        number = len(self.inodes) + 1
        self.inodes[number] = Inode(data, synced)
        return number

    def _name(self, path: Any) -> str | None:
        path = os.fspath(path)
        directory, name = os.path.split(path)
        return name if directory == self.directory else None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for op in ("open", "write", "fsync", "close", "replace", "rename", "link", "unlink"):
            real = getattr(os, op)
            monkeypatch.setattr(os, op, self._wrap(op, real))

    def _wrap(self, op: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            getattr(self, "_" + op)(result, *args)
            self._point()
            return result

        return call

    def _point(self) -> None:
        synced = {n: i.synced for n, i in self.inodes.items()}
        self.points.append(CrashPoint(dict(self.durable), list(self.pending), synced, False))

    def mark_acknowledged(self) -> None:
        self._point()
        self.points[-1].acknowledged = True

    def _open(self, fd: int, path: Any, flags: int, *_: Any) -> None:
        if os.fspath(path) == self.directory:
            self.fds[fd] = None
            return
        name = self._name(path)
        if name is None:
            return
        if flags & os.O_CREAT and name not in self.names:
            self.names[name] = self._new_inode()
            self.pending.append(("create", name, None, self.names[name]))
        if name in self.names:
            self.fds[fd] = self.names[name]

    def _write(self, written: int, fd: int, data: Any) -> None:
        inode = self.fds.get(fd)
        if inode is not None:
            self.inodes[inode].data += bytes(data[:written])

    def _fsync(self, _: None, fd: int) -> None:
        if fd not in self.fds:
            return
        inode = self.fds[fd]
        if inode is None:
            self.durable = dict(self.names)
            self.pending = []
        else:
            self.inodes[inode].synced = self.inodes[inode].data

    def _close(self, _: None, fd: int) -> None:
        self.fds.pop(fd, None)

    def _replace(self, _: None, src: Any, dst: Any) -> None:
        s, d = self._name(src), self._name(dst)
        if s is not None and d is not None:
            self.names[d] = self.names.pop(s)
            self.pending.append(("rename", s, d, self.names[d]))

    _rename = _replace

    def _link(self, _: None, src: Any, dst: Any, **__: Any) -> None:
        s, d = self._name(src), self._name(dst)
        if s is not None and d is not None:
            self.names[d] = self.names[s]
            self.pending.append(("link", s, d, self.names[d]))

    def _unlink(self, _: None, path: Any, **__: Any) -> None:
        name = self._name(path)
        if name is not None and name in self.names:
            inode = self.names.pop(name)
            self.pending.append(("unlink", name, None, inode))

    @staticmethod
    def disks(point: CrashPoint) -> Iterator[dict[str, bytes]]:
        """Every directory state a crash at `point` may leave: name -> bytes on disk (a file's
        unsynced data is gone; names reach the disk in order, any prefix of them)."""
        for cut in range(len(point.pending) + 1):
            names = dict(point.durable)
            for op, a, b, inode in point.pending[:cut]:
                if op in ("unlink", "rename"):
                    names.pop(a, None)
                if b is not None:
                    names[b] = inode
                elif op == "create":
                    names[a] = inode
            yield {n: point.synced[i] for n, i in names.items()}


def crash_violations(fs: CrashFS, old: dict[str, bytes], new: dict[str, bytes]) -> list[str]:
    """What any crash point could lose: a file that is neither old nor new, a mapping ahead of
    its counters, or (after the save returned) anything but the new version."""
    problems = []
    for n, point in enumerate(fs.points):
        for disk in CrashFS.disks(point):
            m, c = disk.get(MAPPING_FILE), disk.get(COUNTERS_FILE)
            if m not in (old[MAPPING_FILE], new[MAPPING_FILE]):
                problems.append(f"point {n}: mapping file is neither old nor new")
            if c not in (old[COUNTERS_FILE], new[COUNTERS_FILE]):
                problems.append(f"point {n}: counters file is neither old nor new")
            if m == new[MAPPING_FILE] and c != new[COUNTERS_FILE]:
                problems.append(f"point {n}: new mapping with old counters")
            if point.acknowledged and (m, c) != (new[MAPPING_FILE], new[COUNTERS_FILE]):
                problems.append(f"point {n}: acknowledged allocation lost")
    return problems


Tamper = Callable[[pytest.MonkeyPatch], None]


def crash_run(tmp_path: Path, tamper: Tamper | None = None) -> tuple[CrashFS, list[str]]:
    """One allocation under the crash model; `tamper` breaks the store on purpose (installed
    over the model, so the model sees only the calls that really happen)."""
    directory = tmp_path / "s"
    write_state(directory)
    old = {n: (directory / n).read_bytes() for n in (MAPPING_FILE, COUNTERS_FILE)}
    fs = CrashFS(directory)
    with pytest.MonkeyPatch.context() as mp:
        fs.install(mp)
        if tamper is not None:
            tamper(mp)
        assert allocate_once(directory) == "235"
        fs.mark_acknowledged()
    new = {n: (directory / n).read_bytes() for n in (MAPPING_FILE, COUNTERS_FILE)}
    assert new != old
    return fs, crash_violations(fs, old, new)


def test_simulated_crash_leaves_old_or_new(tmp_path: Path) -> None:
    fs, problems = crash_run(tmp_path)
    states = sum(len(p.pending) + 1 for p in fs.points)
    assert len(fs.points) > 20 and states > 50
    assert problems == []


def _no_dir_fsync(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(durable, "fsync_dir", lambda directory: None)


def _no_file_fsync(mp: pytest.MonkeyPatch) -> None:
    modelled = os.fsync

    def dir_only(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            modelled(fd)

    mp.setattr(os, "fsync", dir_only)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_no_dir_fsync, "acknowledged allocation lost"),
        (_no_file_fsync, "neither old nor new"),
    ],
    ids=["without directory fsync", "without file fsync"],
)
def test_simulated_crash_catches_a_broken_store(
    tmp_path: Path, tamper: Tamper, expected: str
) -> None:
    """The checker has teeth: remove one fsync from the store and it reports a possible loss."""
    _, problems = crash_run(tmp_path, tamper)
    assert any(expected in p for p in problems)


# --- modes and owners ---------------------------------------------------------------------


def test_existing_modes_and_owner_are_kept(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    m, c = write_state(directory)
    m.chmod(0o640)
    c.chmod(0o604)
    if os.geteuid() == 0:
        os.chown(m, 1234, 5678)
        os.chown(c, 4321, 8765)
    allocate_once(directory)
    assert (m.stat().st_mode & 0o777, c.stat().st_mode & 0o777) == (0o640, 0o604)
    if os.geteuid() == 0:
        assert (m.stat().st_uid, m.stat().st_gid) == (1234, 5678)
        assert (c.stat().st_uid, c.stat().st_gid) == (4321, 8765)


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_new_files_follow_the_umask(
    tmp_path: Path, umask: int, file_mode: int, dir_mode: int
) -> None:
    directory = tmp_path / "fresh" / "state"
    old = os.umask(umask)
    try:
        allocate_once(directory)
    finally:
        os.umask(old)
    assert directory.stat().st_mode & 0o777 == dir_mode
    for name in (MAPPING_FILE, COUNTERS_FILE, MAPPING_FILE + ".bak", COUNTERS_FILE + ".bak"):
        if (directory / name).exists():
            assert (directory / name).stat().st_mode & 0o777 == file_mode, name


# --- real filesystems that refuse writes --------------------------------------------------


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "tiny"
    point.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(directory: Path) -> None:
    """Use up every block, including the slack of partly used pages, with small files."""
    directory.mkdir()
    for n in range(100_000):
        written = 0
        fd = os.open(directory / str(n), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                written += os.write(fd, b"x" * 512)
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)
        if written == 0:
            return
    raise AssertionError("the tmpfs never filled up")


def allocate_many(directory: Path, count: int) -> None:
    with ExternalIDMapper(Store(directory, lock_timeout=1)).batch() as batch:
        for n in range(count):
            batch.allocate(f"TASK-{n + 0x1000:04x}", "jira", "BIG")


def test_real_enospc_on_a_full_tmpfs(tiny_tmpfs: Path) -> None:
    """A full disk: a save that grows the mapping fails clearly. (A save of the same size
    succeeds even on a full tmpfs, because rotating `.bak` frees the old backup's page.)"""
    directory = tiny_tmpfs / "s"
    write_state(directory)
    ExternalIDMapper(Store(directory)).allocate("TASK-0001", "github")  # lock file and .bak exist
    fill(tiny_tmpfs / "filler")
    mapping = directory / MAPPING_FILE
    backup = directory / (MAPPING_FILE + ".bak")
    before, old_backup = mapping.read_bytes(), backup.read_bytes()
    assert ExternalIDMapper(Store(directory)).external_ids("TASK-0001") == {"github": "235"}
    with pytest.raises(ExtidError, match="No space left on device") as info:
        allocate_many(directory, 200)
    assert "\n" not in str(info.value) and str(mapping) in str(info.value)
    assert mapping.read_bytes() == before
    assert backup.read_bytes() in (before, old_backup)  # rotated before the write, or not
    assert checkfiles.check_paths([str(mapping), str(directory / COUNTERS_FILE)]) == []
    assert temp_files(directory) == []
    assert lock_is_free(directory / ".extid.lock")
    shutil.rmtree(tiny_tmpfs / "filler")
    allocate_many(directory, 200)
    assert ExternalIDMapper(Store(directory)).external_ids("TASK-0001") == {"github": "235"}


@pytest.fixture
def read_only_state(tmp_path: Path) -> Iterator[Path]:
    source = tmp_path / "src"
    write_state(source)
    ExternalIDMapper(Store(source)).allocate("TASK-0001", "github")
    view = tmp_path / "ro"
    view.mkdir()
    if os.geteuid() != 0 or not _mount("--bind", str(source), str(view)):
        pytest.skip("cannot bind-mount here")
    try:
        if not _mount("-o", "remount,ro,bind", str(view)):
            pytest.skip("cannot remount read-only here")
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_real_erofs_on_a_read_only_mount(read_only_state: Path) -> None:
    directory = read_only_state
    before = snapshot(directory)
    mapper = ExternalIDMapper(Store(directory, lock_timeout=1))
    assert mapper.external_ids("TASK-0001") == {"github": "235"}
    assert (
        checkfiles.check_paths([str(directory / MAPPING_FILE), str(directory / COUNTERS_FILE)])
        == []
    )
    with pytest.raises(ExtidError, match="Read-only file system") as info:
        mapper.allocate("TASK-0002", "github")
    assert "\n" not in str(info.value) and str(directory) in str(info.value)
    assert snapshot(directory) == before


def as_nobody(action: Callable[[], object]) -> tuple[str, object]:
    """Run `action` in a forked child that dropped to uid/gid 65534: ("ok", result) or
    ("error", message). A fork, not a new interpreter: uid 65534 cannot read root's Python."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                outcome: tuple[str, object] = ("ok", action())
            except ExtidError as e:
                outcome = ("error", str(e))
            except BaseException:
                outcome = ("crash", traceback.format_exc())
            os.write(write_end, json.dumps(outcome).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    kind, value = json.loads(data)
    return kind, value


@pytest.fixture
def nobody_base() -> Iterator[Path]:
    """A directory uid 65534 can reach (pytest's tmp_path sits under a 0700 root directory)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to uid 65534")
    base = Path(tempfile.mkdtemp(prefix="extid-nobody-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_unwritable_directory_as_an_unprivileged_user(nobody_base: Path) -> None:
    directory = nobody_base / "state"
    write_state(directory)
    ExternalIDMapper(Store(directory)).allocate("TASK-0001", "github")  # imports everything
    for path in (directory, *directory.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    before = snapshot(directory)
    store = Store(directory, lock_timeout=0.2)

    looked = as_nobody(lambda: ExternalIDMapper(store).external_ids("TASK-0001"))
    assert looked == ("ok", {"github": "235"}), looked[1]
    kind, message = as_nobody(lambda: ExternalIDMapper(store).allocate("TASK-0002", "github"))
    assert kind == "error", message
    assert isinstance(message, str) and "Permission denied" in message
    assert str(directory) in message and "\n" not in message
    assert snapshot(directory) == before


def test_unreachable_directory_as_an_unprivileged_user(nobody_base: Path) -> None:
    """Regression: a state directory this user may not search gave a PermissionError traceback."""
    directory = nobody_base / "private" / "state"
    write_state(directory)
    ExternalIDMapper(Store(directory)).allocate("TASK-0001", "github")
    directory.parent.chmod(0o700)
    store = Store(directory, lock_timeout=0.2)
    for action in (
        lambda: ExternalIDMapper(store).external_ids("TASK-0001"),
        lambda: ExternalIDMapper(store).allocate("TASK-0002", "github"),
    ):
        kind, message = as_nobody(action)
        assert kind == "error", message
        assert isinstance(message, str) and "Permission denied" in message
        assert str(directory) in message and "\n" not in message
