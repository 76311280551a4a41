"""The durable layer: state directory, lock, atomic write, `.bak`, load with recovery.

Every side effect on the state directory happens here. Syscalls go through the `os` module
(`os.fsync`, `os.replace`, `os.link`, `os.write`, ...) so a test can inject a fault at one
precise step by patching it.

Write order of one transaction (under the lock `<state_dir>/.extid.lock`):

1. sweep stale temp files `.<name>.tmp-<hex>` left by killed writers;
2. read both files (with recovery, see `Store.load`), hand the `State` to the caller;
3. on a clean exit, if a document changed: reconcile counters, set `updated`, validate both;
4. counters file first: `create_backup` then `atomic_write` (no directory fsync yet);
5. mapping file second: `create_backup` then `atomic_write`, whose directory fsync makes
   both renames durable.

A crash between 4 and 5 leaves a counter ahead of the mappings: an unused gap, never a
re-issued ID (see `Store._save`). See `atomic_write` and `create_backup` for the order of
their syscalls.
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import re
import secrets
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import document, entries, migrations, model
from .document import COUNTERS, COUNTERS_FILE, ENVELOPE_KEY, MAPPING, MAPPING_FILE, Kind
from .errors import (
    ExtidError,
    LockTimeoutError,
    ParseError,
    Problem,
    UnsafePathError,
    ValidationError,
)
from .ids import MAX_COUNTER

LOCK_FILE = ".extid.lock"
GITIGNORE = (
    "# extid: the lock, backups, quarantined corrupt files and temp files stay out of git\n"
    ".extid.lock\n"
    "*.bak\n"
    "*.corrupt-*\n"
    ".*.tmp-*\n"
)
FILES: dict[Kind, str] = {MAPPING: MAPPING_FILE, COUNTERS: COUNTERS_FILE}

#: Seconds one attempt waits for the lock (`EXTID_LOCK_TIMEOUT` overrides it).
DEFAULT_LOCK_TIMEOUT = 10.0
#: Attempts after the first one, each after an exponentially growing pause.
LOCK_RETRIES = 3
LOCK_BACKOFF = 0.1
#: How often a waiter re-tries the lock; flock itself cannot time out.
LOCK_POLL = 0.05

_TEMP_RE = re.compile(r"\A\..+\.tmp-[0-9a-f]{16}\Z")
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# Errors of os.link that mean "this filesystem has no hard links here", not a real failure.
_NO_LINK_ERRNOS = frozenset({1, 18, 31, 38, 95})  # EPERM EXDEV EMLINK ENOSYS EOPNOTSUPP


class WriteError(ExtidError):
    """A write did not complete; the file it was replacing is unchanged."""


# --- the state directory -----------------------------------------------------------------


def find_git_toplevel(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding `.git` (file or directory).

    Plain filesystem walk: the common path must not pay for importing GitPython. A work tree
    named by `GIT_WORK_TREE` (its `.git` kept elsewhere, `GIT_DIR`) is the top level, as for git.
    """
    work_tree = os.environ.get("GIT_WORK_TREE")
    if work_tree:
        return Path(os.path.abspath(work_tree))
    for directory in (start, *start.parents):
        if os.path.lexists(os.path.join(directory, ".git")):
            return directory
    return None


def resolve_state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--state-dir`, else `$EXTID_STATE_DIR`, else `<git toplevel>/.claude/state`, else
    `./.claude/state`; an absolute path. Inside a git repository an explicit setting must stay
    inside it (a typo must not scatter state files over the disk)."""
    cwd = Path(os.path.abspath(os.curdir))
    top = find_git_toplevel(cwd)
    if explicit is not None and os.fspath(explicit) != "":
        return _checked_setting(os.fspath(explicit), "--state-dir", cwd, top)
    env = os.environ.get("EXTID_STATE_DIR", "")
    if env:
        return _checked_setting(env, "EXTID_STATE_DIR", cwd, top)
    if top is None:
        return cwd / ".claude" / "state"
    # A branch can commit `.claude` or `.claude/state` as a symlink to anywhere.
    return _checked_setting(str(top / ".claude" / "state"), "the state directory", cwd, top)


def _absolute(value: str | os.PathLike[str]) -> Path:
    text = os.fspath(value)
    if "\x00" in text:
        raise UnsafePathError("state directory contains a NUL byte; refused")
    return Path(os.path.abspath(text))


def _checked_setting(value: str, source: str, cwd: Path, top: Path | None) -> Path:
    if "\x00" in value:
        raise UnsafePathError(f"{source} contains a NUL byte; refused")
    path = Path(os.path.normpath(cwd / value))
    if top is not None:
        real, real_top = os.path.realpath(path), os.path.realpath(top)
        if real != real_top and not real.startswith(real_top.rstrip(os.sep) + os.sep):
            raise UnsafePathError(
                f"{source} {value!r} points outside the git repository {top}; refused "
                "(state files belong inside the repository they describe)"
            )
    return path


# --- primitives --------------------------------------------------------------------------


def _temp_name(path: str) -> str:
    directory, base = os.path.split(path)
    return os.path.join(directory, f".{base}.tmp-{secrets.token_hex(8)}")


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:  # e.g. a directory on the way this user may not search
        raise ExtidError(f"{path}: cannot access ({_reason(e)})") from e


def _refuse_symlink(path: str, st: os.stat_result | None) -> None:
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(f"{path}: is a symlink; extid never reads or writes through one")


def fsync_dir(directory: str) -> None:
    """Make the names in `directory` durable (a rename is not, until its directory is)."""
    if os.name == "nt":  # pragma: no cover - Windows cannot open a directory
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quietly(path: str | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            os.unlink(path)


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    backup: str | os.PathLike[str] | None = None,
    sync_dir: bool = True,
) -> None:
    """Replace `path` with `data` atomically and durably, keeping its mode (and owner as root).

    Steps, in order (each a patchable `os.*` call):

    1. `os.lstat(path)`: refuse a symlink; remember mode and owner if the file exists;
    2. `os.open(temp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0o666)`: random name in the same
       directory, so a new file gets its mode from the umask, never 0600 by accident;
    3. `os.fchmod`, and `os.fchown` when root (only if the file existed);
    4. `os.write` until all bytes are written (no userspace buffer, so nothing to flush);
    5. `os.fsync(fd)`, then `os.close(fd)`;
    6. `os.link(path, keep)`: a second name for the old version, to roll back step 8;
    7. `os.replace(temp, path)`;
    8. `fsync_dir`: `os.open(dir)`, `os.fsync`, `os.close`;
    9. `os.unlink(keep)`.

    Any failure in 2-7 removes the temp file and leaves the old file as it was; a failure in 8
    puts the old version back with `os.replace(keep, path)`. No step is retried: a failed
    fsync means the data may be lost, and trying again cannot tell. Raises `WriteError`.

    `backup`: the `.bak` that `create_backup` just made of `path` (a second name of the old
    version already): it serves as `keep`, which saves steps 6 and 9 on every save. A roll
    back then moves it onto `path`, which loses nothing, since both held the same version.
    `sync_dir=False` leaves out step 8 for a caller whose next write in the same directory
    makes this rename durable with its own (see `Store._save`).
    """
    target = os.fspath(path)
    old = _lstat(target)
    _refuse_symlink(target, old)
    temp = _temp_name(target)
    keep: str | None = None
    fd: int | None = None
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o666)
        if old is not None:
            _copy_mode_and_owner(fd, old)
        _write_all(fd, data)
        os.fsync(fd)
        closing, fd = fd, None
        os.close(closing)
        if backup is not None:
            keep = os.fspath(backup)
        elif old is not None:
            keep = _link_or_none(target, _temp_name(target))
        os.replace(temp, target)
    except OSError as e:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        _unlink_quietly(temp)
        if backup is None:
            _unlink_quietly(keep)
        raise WriteError(f"{target}: write failed ({_reason(e)}); the file is unchanged") from e
    try:
        if sync_dir:
            fsync_dir(os.path.dirname(target) or os.curdir)
    except OSError as e:
        raise _roll_back(target, keep, e) from e
    if backup is None:
        _unlink_quietly(keep)


def _copy_mode_and_owner(fd: int, old: os.stat_result) -> None:
    os.fchmod(fd, stat.S_IMODE(old.st_mode))
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.fchown(fd, old.st_uid, old.st_gid)


def _link_or_none(source: str, name: str) -> str | None:
    try:
        os.link(source, name, follow_symlinks=False)
    except OSError as e:
        if e.errno in _NO_LINK_ERRNOS:
            return None
        raise
    return name


def _roll_back(target: str, keep: str | None, cause: OSError) -> WriteError:
    if keep is None:
        return WriteError(
            f"{target}: could not make the write durable ({_reason(cause)}); "
            "the new version is in place but may not survive a crash"
        )
    try:
        os.replace(keep, target)
        with contextlib.suppress(OSError):
            fsync_dir(os.path.dirname(target) or os.curdir)
    except OSError:
        _unlink_quietly(keep)
        return WriteError(
            f"{target}: could not make the write durable ({_reason(cause)}) nor roll it back"
        )
    return WriteError(f"{target}: write failed ({_reason(cause)}); the file is unchanged")


def _reason(e: OSError) -> str:
    return e.strerror or type(e).__name__


def create_backup(path: str | os.PathLike[str], *, durable: bool = True) -> Path | None:
    """Make `<path>.bak` the current version of `path` (None if `path` does not exist).

    Atomic, never a copy into place: 1. `os.link(path, temp)`, 2. `os.replace(temp, bak)`,
    3. `fsync_dir` (skipped with `durable=False` when a write in the same directory follows
    and fsyncs it anyway). Where hard links are unsupported the bytes go through
    `atomic_write` instead.
    """
    source = os.fspath(path)
    backup = source + ".bak"
    _refuse_symlink(source, st := _lstat(source))
    if st is None:
        return None
    _refuse_symlink(backup, old_backup := _lstat(backup))
    if old_backup is not None and os.path.samestat(st, old_backup):
        # Already this version (a write failed after its backup). rename() of two links of
        # one file is a no-op that would leave the temp name behind.
        return Path(backup)
    temp = _temp_name(backup)
    try:
        linked = _link_or_none(source, temp)
        if linked is None:
            data = read_bytes(source)
            if data is None:
                return None
            atomic_write(backup, data)
            return Path(backup)
        os.replace(temp, backup)
        if durable:
            fsync_dir(os.path.dirname(source) or os.curdir)
    except OSError as e:
        _unlink_quietly(temp)
        raise WriteError(f"{backup}: backup failed ({_reason(e)}); nothing was written") from e
    return Path(backup)


def read_bytes(path: str | os.PathLike[str]) -> bytes | None:
    """The contents of `path`, None if it does not exist; never through a symlink."""
    name = os.fspath(path)
    try:
        fd = os.open(name, document.READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as e:
        _refuse_symlink(name, _lstat(name))
        raise ExtidError(f"{name}: cannot read ({_reason(e)})") from e
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ExtidError(f"{name}: not a regular file")
        if st.st_size > document.MAX_BYTES:  # refuse before reading: it could be 200 GB
            limit = document.MAX_BYTES
            raise ParseError(name, "", f"file is {st.st_size} bytes, over the {limit}-byte limit")
        data = document.read_to_limit(f, st.st_size)
    return data


def _read_source(path: str) -> bytes | None:
    """read_bytes for a recovery source: an oversized one is no source."""
    try:
        return read_bytes(path)
    except ParseError:
        return None


def sweep_temp_files(directory: str | os.PathLike[str]) -> list[str]:
    """Remove temp files of killed writers. Only safe while holding the directory's lock."""
    removed = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        if _TEMP_RE.match(name):
            full = os.path.join(directory, name)
            st = _lstat(full)
            if st is not None and stat.S_ISREG(st.st_mode):
                _unlink_quietly(full)
                removed.append(full)
    return removed


def utc_now() -> str:
    """RFC 3339 UTC with `Z`, to the second: what extid writes into `updated` and `created`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def warn(message: str) -> None:
    print(f"extid: warning: {message}", file=sys.stderr)


# --- documents ---------------------------------------------------------------------------


def empty_document(kind: Kind) -> dict[str, Any]:
    inner = {} if kind == MAPPING else model.empty_counters()
    return {ENVELOPE_KEY[kind]: inner, "updated": utc_now(), "version": migrations.CURRENT}


def decode(data: bytes, kind: Kind, name: str) -> tuple[dict[str, Any], str]:
    """Bytes of a `kind` file -> (current-version document, on-disk version).

    Raises ParseError/ValidationError (the file is corrupt) or NewerVersionError (it is not
    ours to read, and certainly not ours to overwrite).
    """
    from .validate import check_document

    doc, version = parse_upgraded(data, kind, name)
    # Collisions between entries make a file wrong, not corrupt: restoring an older version
    # would throw away the merge that caused them. Writes still refuse them (see `_commit`).
    problems = check_document(doc, kind, name, semantics=False)
    if problems:
        raise ValidationError(problems)
    return doc, version


def parse_upgraded(data: bytes, kind: Kind, name: str) -> tuple[dict[str, Any], str]:
    """`decode` without the validation: parsed, of the right kind, upgraded."""
    obj = document.load(data, name)
    found = document.kind_of(obj, name)
    if isinstance(obj, dict) and found is not None and found != kind:
        raise ParseError(name, "$", f"holds a {found} document, expected {kind}")
    return migrations.upgrade(obj, kind, name)


def encode(doc: dict[str, Any], kind: Kind, version: str, name: str) -> bytes:
    """Canonical bytes of a current-version document written back at `version`."""
    if version != migrations.CURRENT:
        doc = migrations.downgrade(copy.deepcopy(doc), kind, version, name)
    return document.canonical(doc)


@dataclass
class State:
    """Both documents at the current version, plus the version each file has on disk.

    Mutate `mapping` / `counters` inside `Store.transaction()`; they are saved on exit.
    """

    mapping: dict[str, Any]
    counters: dict[str, Any]
    mapping_version: str = migrations.CURRENT
    counters_version: str = migrations.CURRENT
    # Copies as loaded (after reconciling): what "changed" is measured against.
    _seen: dict[Kind, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def mappings(self) -> dict[str, Any]:
        """The `mappings` object: internal ID -> entry."""
        value: dict[str, Any] = self.mapping["mappings"]
        return value

    @property
    def counter_values(self) -> dict[str, Any]:
        """The `counters` object: tool -> next number (or key -> next number)."""
        value: dict[str, Any] = self.counters["counters"]
        return value

    def doc(self, kind: Kind) -> dict[str, Any]:
        return self.mapping if kind == MAPPING else self.counters

    def version(self, kind: Kind) -> str:
        return self.mapping_version if kind == MAPPING else self.counters_version

    def remember(self) -> None:
        self._seen = {k: _copy3(self.doc(k)) for k in (MAPPING, COUNTERS)}

    def changed(self, kind: Kind) -> bool:
        return bool(self._seen.get(kind) != self.doc(kind))


def _copy3(obj: Any, depth: int = 3) -> Any:
    """A copy of a document's three levels of objects (a valid document has no more, and
    its leaves are str/int): far cheaper than dumping it to compare before and after."""
    if depth == 0 or not isinstance(obj, dict):
        return copy.deepcopy(obj) if isinstance(obj, (dict, list)) else obj
    return {k: _copy3(v, depth - 1) for k, v in obj.items()}


@dataclass
class _Restore:
    """How one corrupt file will be put right (decided before anything is touched)."""

    kind: Kind
    error: ExtidError
    corrupt: bytes
    doc: dict[str, Any]
    version: str
    source: str  # where the content comes from, for the warning


class Tracker:
    """What a tracked transaction changed: each entry's value before its first change.

    A caller of `Store.tracked()` calls `touch(key)` before it changes, adds or deletes the
    entry `key`, and changes nothing else in the mappings; counters may change freely (they
    are compared whole). `index` is the store's, current as of the start: read it, never
    write it (the store updates it from what was touched when it commits).
    """

    def __init__(self, state: State, index: model.Index) -> None:
        self.state = state
        self.index = index
        self.before: dict[str, Any] = {}

    def touch(self, key: str) -> None:
        if key not in self.before:
            entry = self.state.mappings.get(key)
            self.before[key] = None if entry is None else dict(entry)

    def changed(self) -> list[str]:
        mappings = self.state.mappings
        return [key for key, old in self.before.items() if mappings.get(key) != old]


@dataclass
class _Snapshot:
    """Both files as this process last read or wrote them: the bytes, and their state parsed,
    validated (collisions included: only a clean registry gets one) and indexed. Good for as
    long as the files on disk hold exactly `raw`; never handed to a caller that could keep it.
    """

    raw: tuple[bytes | None, bytes | None]
    state: State
    index: model.Index
    spliceable: bool = False  # raw[0] is the canonical dump of the current-version document


# --- locking: one lock per state directory, re-entrant per thread ------------------------

_local = threading.local()


def _held() -> dict[tuple[int, str], list[Any]]:
    """This thread's holds: (pid, real state dir) -> [depth, State of an open transaction]."""
    holds: dict[tuple[int, str], list[Any]] | None = getattr(_local, "holds", None)
    if holds is None:
        holds = _local.holds = {}
    return holds


def _lock_timeout() -> float:
    value = os.environ.get("EXTID_LOCK_TIMEOUT") or str(DEFAULT_LOCK_TIMEOUT)
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ExtidError(f"EXTID_LOCK_TIMEOUT={value!r} is not a number of seconds")
    return seconds


class Store:
    """The two state files of one directory.

    Readers need no lock (every write is an atomic rename). `transaction()` holds the
    directory's lock over the whole read-modify-write of both files; nesting it in one thread,
    through this or any other `Store` of the same directory, joins the outer transaction.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        lock_timeout: float | None = None,
    ) -> None:
        # A directory the program names is trusted; what users set (--state-dir,
        # EXTID_STATE_DIR) is checked by resolve_state_dir, which the commands call.
        self.state_dir = resolve_state_dir() if state_dir is None else _absolute(state_dir)
        self.mapping_path = self.state_dir / MAPPING_FILE
        self.counters_path = self.state_dir / COUNTERS_FILE
        self.lock_path = self.state_dir / LOCK_FILE
        self.lock_timeout = _lock_timeout() if lock_timeout is None else lock_timeout
        #: What the last recovery did (also warned on stderr), for `extid repair` to report.
        self.recovered: list[str] = []
        self._filelock: Any = None
        self._filelock_pid = -1
        self._snapshot: _Snapshot | None = None
        self._snapshot_lock = threading.Lock()
        self._real_dir: str | None = None

    def __repr__(self) -> str:
        return f"Store({str(self.state_dir)!r})"

    def path(self, kind: Kind) -> Path:
        return self.mapping_path if kind == MAPPING else self.counters_path

    # --- directory and lock ---------------------------------------------------------------

    def _check_dir(self) -> bool:
        """Whether the state directory exists; refuses a symlinked one."""
        st = _lstat(str(self.state_dir))
        _refuse_symlink(str(self.state_dir), st)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise ExtidError(f"{self.state_dir}: is not a directory")
        return st is not None

    def ensure_dir(self) -> None:
        """Create the state directory (mode from the umask) if it is missing."""
        if self._check_dir():
            return
        try:
            os.makedirs(self.state_dir, mode=0o777, exist_ok=True)
            fsync_dir(str(self.state_dir.parent))
        except OSError as e:
            raise ExtidError(f"{self.state_dir}: cannot create ({_reason(e)})") from e
        self._check_dir()

    def _key(self) -> tuple[int, str]:
        # realpath costs a few lstat calls, three times per allocation: resolved once. A
        # directory moved under a running process keeps its first name here, which only
        # matters for joining a transaction open through another Store of that directory.
        if self._real_dir is None:
            self._real_dir = os.path.realpath(self.state_dir)
        return (os.getpid(), self._real_dir)

    def _lock_object(self) -> Any:
        # A lock object must not cross a fork; a child builds its own.
        if self._filelock is None or self._filelock_pid != os.getpid():
            from filelock import FileLock

            # thread_local (the default): each thread locks through its own descriptor, so
            # threads exclude each other like processes do. Not is_singleton: re-entrancy is
            # handled by `_held()`, which also makes a nested transaction share the outer
            # State; a re-entered singleton lock would let it load and save a stale copy.
            self._filelock = FileLock(
                str(self.lock_path), timeout=self.lock_timeout, poll_interval=LOCK_POLL
            )
            self._filelock_pid = os.getpid()
        return self._filelock

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold `<state_dir>/.extid.lock`; re-entrant within a thread. Sweeps stale temps."""
        self.ensure_dir()
        key = self._key()
        holds = _held()
        if key in holds:
            holds[key][0] += 1
            try:
                yield
            finally:
                holds[key][0] -= 1
            return
        _refuse_symlink(str(self.lock_path), _lstat(str(self.lock_path)))
        lock = self._lock_object()
        self._acquire(lock)
        holds[key] = [1, None]
        try:
            sweep_temp_files(self.state_dir)
            yield
        finally:
            del holds[key]
            lock.release()

    def _acquire(self, lock: Any) -> None:
        from filelock import Timeout

        pause = LOCK_BACKOFF
        for attempt in range(LOCK_RETRIES + 1):
            try:
                lock.acquire(timeout=self.lock_timeout)
                return
            except Timeout:
                if attempt == LOCK_RETRIES:
                    break
                time.sleep(pause * (1 + random.random()))
                pause *= 2
            except OSError as e:
                _refuse_symlink(str(self.lock_path), _lstat(str(self.lock_path)))
                raise ExtidError(f"{self.lock_path}: cannot lock ({_reason(e)})") from e
        raise LockTimeoutError(
            f"{self.lock_path}: lock still held by another process after "
            f"{LOCK_RETRIES + 1} attempts of {self.lock_timeout:g}s; is another extid running?"
        )

    # --- reading ---------------------------------------------------------------------------

    def _read_one(self, kind: Kind) -> tuple[dict[str, Any], str]:
        return self._decode_or_empty(kind, read_bytes(self.path(kind)))

    def signature(self) -> tuple[Any, ...]:
        """Changes whenever either file is replaced: a cache key for readers."""
        sig: list[Any] = []
        for kind in (MAPPING, COUNTERS):
            st = _lstat(str(self.path(kind)))
            # ctime too: a rename makes a new inode, but inode numbers are reused
            sig.append(
                None if st is None else (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            )
        return tuple(sig)

    def load(self) -> State:
        """Both documents, counters reconciled with the mappings. No lock unless a file is
        corrupt: then it is recovered under the lock (see `_recover`)."""
        if self._check_dir():
            try:
                return self._read_state()
            except (ParseError, ValidationError):
                pass
            with self.lock():
                return self._load_locked()
        current = migrations.CURRENT
        return self._state(empty_document(MAPPING), current, empty_document(COUNTERS), current)

    def _read_state(self) -> State:
        mapping, mapping_version = self._read_one(MAPPING)
        counters, counters_version = self._read_one(COUNTERS)
        return self._state(mapping, mapping_version, counters, counters_version)

    @staticmethod
    def _state(
        mapping: dict[str, Any],
        mapping_version: str,
        counters: dict[str, Any],
        cv: str,
        high: dict[model.CounterKey, int] | None = None,
    ) -> State:
        model.reconcile(counters["counters"], mapping["mappings"], high)
        state = State(mapping, counters, mapping_version, cv)
        if high is None:  # a tracked transaction knows what changes without copies
            state.remember()
        return state

    def _load_locked(self, fresh: bool = False) -> State:
        """Load under the lock, recovering corrupt files (and writing the result)."""
        loaded: dict[Kind, tuple[dict[str, Any], str]] = {}
        broken: dict[Kind, ExtidError] = {}
        for kind in (MAPPING, COUNTERS):
            try:
                loaded[kind] = self._read_one(kind)
            except (ParseError, ValidationError) as e:
                broken[kind] = e
        if broken:
            self._recover(loaded, broken, fresh)
        return self._state(*loaded[MAPPING], *loaded[COUNTERS])

    # --- recovery --------------------------------------------------------------------------

    def _recover(
        self,
        loaded: dict[Kind, tuple[dict[str, Any], str]],
        broken: dict[Kind, ExtidError],
        fresh: bool,
    ) -> None:
        """Quarantine corrupt files as `<file>.corrupt-<UTC time>` and restore each from its
        `.bak`, else from git `HEAD`, else (only with `fresh`) empty. Decided for both files
        before anything is touched; the corrupt file stays in place if it cannot be restored,
        so nothing ever silently starts from zero. Counters are then raised above every number
        any of the files, backups or corrupt bytes mention, so a stale source re-issues nothing.
        """
        plans = [self._plan(kind, error, fresh) for kind, error in broken.items()]
        for plan in plans:
            loaded[plan.kind] = (plan.doc, plan.version)
        counters = loaded[COUNTERS][0]
        raised = self._raise_counters(counters, loaded[MAPPING][0], plans)
        by_kind = {plan.kind: plan for plan in plans}
        for kind in (COUNTERS, MAPPING):  # counters first, as in every write
            todo = by_kind.get(kind)
            if todo is not None:
                self._put_back(todo)
            elif kind == COUNTERS and raised:
                self._write(COUNTERS, counters, loaded[COUNTERS][1])
                self._report(f"{self.counters_path}: counters raised above the restored numbers")

    def _plan(self, kind: Kind, error: ExtidError, fresh: bool) -> _Restore:
        path = str(self.path(kind))
        _refuse_unmerged(path, error)
        corrupt = _read_source(path) or b""
        for source, data in self._candidates(kind):
            try:
                doc, version = decode(data, kind, source)
            except ExtidError:
                continue
            return _Restore(kind, error, corrupt, doc, version, source)
        if fresh:
            doc = empty_document(kind)
            return _Restore(
                kind, error, corrupt, doc, migrations.CURRENT, "nothing (started empty)"
            )
        raise ExtidError(
            f"{error}; no valid {path}.bak and no committed version in git to restore from "
            "(the file was left as it is: fix it by hand, or run `extid repair --fresh` to "
            "set it aside and start it empty)"
        )

    def _candidates(self, kind: Kind) -> Iterator[tuple[str, bytes]]:
        path = str(self.path(kind))
        backup = _read_source(path + ".bak")
        if backup is not None:
            yield path + ".bak", backup
        committed = head_version(self.path(kind))
        if committed is not None:
            yield f"git HEAD:{committed[0]}", committed[1]

    def _raise_counters(
        self, counters: dict[str, Any], mapping: dict[str, Any], plans: list[_Restore]
    ) -> bool:
        marks = model.highest_used(mapping["mappings"])
        high = {k: v + 1 for k, v in marks.items()}
        for source in self._other_sources(plans):
            for mark, value in source.items():
                high[mark] = max(high.get(mark, 0), value)
        changed = False
        values = counters["counters"]
        for (tool, key), value in high.items():
            if value <= MAX_COUNTER and model.get_counter(values, tool, key) < value:
                model.set_counter(values, tool, key, value)
                changed = True
        return changed

    def _other_sources(self, plans: list[_Restore]) -> Iterator[dict[model.CounterKey, int]]:
        """Next-number marks from the backups of both files and the corrupt bytes."""
        for plan in plans:
            yield scrape_numbers(plan.corrupt)
        for kind in (MAPPING, COUNTERS):
            data = _read_source(str(self.path(kind)) + ".bak")
            if data is not None:
                yield scrape_numbers(data)

    def _put_back(self, plan: _Restore) -> None:
        path = str(self.path(plan.kind))
        aside = quarantine(path)
        # No backup here: `.bak` may be the very source we restore from.
        atomic_write(path, encode(plan.doc, plan.kind, plan.version, path))
        where = f"moved aside to {aside}" if aside else "it had vanished"
        reason = str(plan.error).removeprefix(f"{path}: ")
        self._report(f"{path} was corrupt ({reason}); {where}; restored from {plan.source}")

    def _report(self, message: str) -> None:
        self.recovered.append(message)
        warn(message)

    # --- writing ---------------------------------------------------------------------------

    def _write(self, kind: Kind, doc: dict[str, Any], version: str) -> None:
        self._save({kind: encode(doc, kind, version, str(self.path(kind)))})

    def _save(self, files: dict[Kind, bytes]) -> None:
        """Write the given files, counters first, each after making its `.bak`: every
        transaction's writes go through here.

        One directory fsync, after the last rename, makes every name change durable (a third
        of the cost of a save on top of the bare write, measured). Journaling file systems
        (ext4, xfs, btrfs) put names on disk in the order they were made, so a crash leaves
        both files old, new counters with the old mapping, or both new; where one could
        reorder them, an old counter beside a new mapping is still safe: every load raises
        counters above the numbers used (`model.reconcile`), and that allocation was never
        acknowledged.
        """
        kinds = [kind for kind in (COUNTERS, MAPPING) if kind in files]
        for kind in kinds:
            path = str(self.path(kind))
            backup = create_backup(path, durable=False)
            atomic_write(path, files[kind], backup=backup, sync_dir=kind == kinds[-1])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[State]:
        """Lock, load (recovering if needed), yield the `State`; save what changed on a clean
        exit (counters first). Nested use in one thread yields the same `State`; only the
        outermost transaction saves. An exception discards all changes."""
        with self.lock():
            hold = _held()[self._key()]
            if hold[1] is not None:
                yield hold[1]
                return
            state = self._load_locked()
            hold[1] = state
            try:
                yield state
            finally:
                hold[1] = None
            self._commit(state)

    def _commit(self, state: State) -> None:
        from .validate import check_document, check_pair

        mapping_changed = state.changed(MAPPING)
        if not mapping_changed and not state.changed(COUNTERS):
            return
        high = model.highest_used(state.mappings)  # one pass serves both rules below
        if mapping_changed:
            model.reconcile(state.counter_values, state.mappings, high)
        dirty = [kind for kind in (COUNTERS, MAPPING) if state.changed(kind)]
        now = utc_now()
        for kind in dirty:
            state.doc(kind)["updated"] = now
        m_name, c_name = str(self.mapping_path), str(self.counters_path)
        problems = check_document(state.mapping, MAPPING, m_name)
        problems += check_document(state.counters, COUNTERS, c_name)
        problems += check_pair(state.mapping, state.counters, m_name, c_name, high)
        if problems:
            raise ValidationError(problems)
        self._save(
            {
                kind: encode(state.doc(kind), kind, state.version(kind), str(self.path(kind)))
                for kind in dirty
            }
        )
        state.remember()

    # --- tracked transactions: the fast path of single changes ------------------------------

    @contextlib.contextmanager
    def tracked(self) -> Iterator[tuple[State, Tracker | None]]:
        """A transaction for a caller that reports each entry it changes (see `Tracker`).

        While the files on disk are byte for byte what this `Store` last read or wrote, the
        state is not parsed, validated, copied or dumped again: only the touched entries are
        checked, and spliced into the previous bytes (`entries.splice_mappings`); when
        another process wrote meanwhile, only the entries that differ are read
        (`entries.diff_entries`). Yields `(state, None)` where that cannot be done (a file
        to recover or with collisions, or an enclosing transaction to join): an ordinary
        transaction, with the usual checks.
        """
        if self._snapshot is None and self._key() not in _held():
            self._preload()
        with self.lock():
            hold = _held()[self._key()]
            snapshot = None if hold[1] is not None else self._current_snapshot()
            if snapshot is None:
                with self.transaction() as state:
                    yield state, None
                return
            tracker = Tracker(snapshot.state, snapshot.index)
            counters_before = _copy3(snapshot.state.counters)
            hold[1] = snapshot.state
            try:
                yield snapshot.state, tracker
            except BaseException:
                # A refusal before any change (a conflict, a bad argument) keeps the snapshot:
                # rebuilding it costs a whole parse. Anything touched drops it.
                if not tracker.before and snapshot.state.counters == counters_before:
                    self._snapshot = snapshot
                raise
            finally:
                hold[1] = None
            self._commit_tracked(snapshot, tracker, counters_before)
            self._snapshot = snapshot  # only once all is written: a failure drops it

    def _preload(self) -> None:
        """Parse and validate the whole registry before taking the lock, the first time: it
        is most of the cost of a process's first change (~60 ms at 10k entries), and other
        processes can write meanwhile. Under the lock the result is compared with the files
        (and brought up to date by their diff), never trusted as it is."""
        try:
            raw = self._read_raw()
        except ExtidError:
            return
        fresh = self._built(raw)
        with self._snapshot_lock:  # another thread of this process may have been quicker
            if self._snapshot is None:
                self._snapshot = fresh

    def _read_raw(self) -> tuple[bytes | None, bytes | None]:
        return read_bytes(self.mapping_path), read_bytes(self.counters_path)

    def _current_snapshot(self) -> _Snapshot | None:
        """The snapshot of the files as they are now, taken out of `self._snapshot` (None:
        they need the ordinary path). Only under the lock."""
        with self._snapshot_lock:
            previous, self._snapshot = self._snapshot, None
        try:
            raw = self._read_raw()
        except ExtidError:
            return None
        if previous is not None and previous.raw == raw:
            return previous
        refreshed = None if previous is None else self._refreshed(previous, raw)
        return refreshed if refreshed is not None else self._built(raw)

    def _built(self, raw: tuple[bytes | None, bytes | None]) -> _Snapshot | None:
        """A snapshot of the files' bytes `raw` parsed whole, or None if they need the
        ordinary path (to be recovered, refused or have their collisions named)."""
        from .validate import check_document

        index, name = model.Index(), str(self.mapping_path)
        try:
            if raw[0] is None:
                mapping = empty_document(MAPPING), migrations.CURRENT
            else:
                mapping = parse_upgraded(raw[0], MAPPING, name)
            counters = self._decode_or_empty(COUNTERS, raw[1])
        except ExtidError:
            return None
        # One pass validates (collisions included) and indexes.
        if check_document(mapping[0], MAPPING, name, index=index):
            return None
        # Whether later writes may splice into these bytes, and a refresh diff them: ~1 ms
        # for a dump at 10k entries, once per process.
        spliceable = mapping[1] == migrations.CURRENT and raw[0] == document.canonical(mapping[0])
        state = self._state(*mapping, *counters, high=index.high)
        return _Snapshot(raw, state, index, spliceable)

    def _refreshed(
        self, snapshot: _Snapshot, raw: tuple[bytes | None, bytes | None]
    ) -> _Snapshot | None:
        """`snapshot` brought up to the files' bytes `raw` by reading only the entries that
        differ (another extid process wrote since), or None. Whatever fails here leaves the
        whole parse to the caller, which also names the problem."""
        from .validate import check_entries

        old, new = snapshot.raw[0], raw[0]
        if old is None or new is None or not snapshot.spliceable:
            return None
        state, index, name = snapshot.state, snapshot.index, str(self.mapping_path)
        diff = entries.diff_entries(old, new, state.mappings)
        if diff is None or diff.rest.get("version") != migrations.CURRENT:
            return None
        try:
            counters = self._decode_or_empty(COUNTERS, raw[1])
        except ExtidError:
            return None
        mapping = {**diff.rest, "mappings": state.mappings}
        for key in diff.removed | diff.changed.keys():
            index.discard(key, state.mappings.pop(key, None))
        state.mappings.update(diff.changed)
        if check_entries(mapping, diff.changed, name):
            return None
        if any(index.add(key, entry) for key, entry in diff.changed.items()):
            return None
        fresh = self._state(mapping, migrations.CURRENT, *counters, high=index.high)
        return _Snapshot(raw, fresh, index, spliceable=True)

    def _decode_or_empty(self, kind: Kind, data: bytes | None) -> tuple[dict[str, Any], str]:
        if data is None:
            return empty_document(kind), migrations.CURRENT
        return decode(data, kind, str(self.path(kind)))

    def _commit_tracked(
        self, snapshot: _Snapshot, tracker: Tracker, counters_before: dict[str, Any]
    ) -> None:
        from .validate import check_document, check_entries, check_pair

        state, m_name, c_name = snapshot.state, str(self.mapping_path), str(self.counters_path)
        changed = tracker.changed()
        problems = _reindex(snapshot.index, tracker, changed, m_name)
        if changed:
            model.reconcile(state.counter_values, state.mappings, snapshot.index.high)
        dirty = [COUNTERS] if state.counters != counters_before else []
        dirty += [MAPPING] if changed else []
        if not dirty:
            return
        now = utc_now()
        for kind in dirty:
            state.doc(kind)["updated"] = now
        problems = check_entries(state.mapping, changed, m_name) + problems
        problems += check_document(state.counters, COUNTERS, c_name)
        problems += check_pair(state.mapping, state.counters, m_name, c_name, snapshot.index.high)
        if problems:
            raise ValidationError(problems)
        written = {kind: self._encode_tracked(snapshot, kind, changed) for kind in dirty}
        self._save(written)
        snapshot.raw = (
            written.get(MAPPING, snapshot.raw[0]),
            written.get(COUNTERS, snapshot.raw[1]),
        )
        if MAPPING in written:
            snapshot.spliceable = state.mapping_version == migrations.CURRENT

    def _encode_tracked(self, snapshot: _Snapshot, kind: Kind, changed: list[str]) -> bytes:
        state, name = snapshot.state, str(self.path(kind))
        old = snapshot.raw[0]
        if kind == MAPPING and snapshot.spliceable and old is not None:
            spliced = entries.splice_mappings(old, state.mapping, changed)
            if spliced is not None:
                return spliced
        return encode(state.doc(kind), kind, state.version(kind), name)

    # --- maintenance -----------------------------------------------------------------------

    def init(self) -> list[Path]:
        """Create the directory, its `.gitignore` and empty files; returns what was created."""
        created: list[Path] = []
        with self.lock():
            self._load_locked()  # an existing file must be readable before anything is added
            for kind in (COUNTERS, MAPPING):
                path = self.path(kind)
                if _lstat(str(path)) is None:
                    atomic_write(path, document.canonical(empty_document(kind)))
                    created.append(path)
            gitignore = self.state_dir / ".gitignore"
            if _ensure_gitignore(gitignore):
                created.append(gitignore)
        return created

    def repair(self, fresh: bool = False) -> list[str]:
        """Recover corrupt files and persist counters reconciled with the mappings."""
        if not self._check_dir():
            return []
        with self.lock():
            self.recovered = []
            state = self._load_locked(fresh=fresh)
            actions = list(self.recovered)
            data = read_bytes(str(self.counters_path))
            on_disk = None if data is None else decode(data, COUNTERS, str(self.counters_path))
            if on_disk is not None and on_disk[0]["counters"] != state.counter_values:
                state.counters["updated"] = utc_now()
                self._write(COUNTERS, state.counters, state.counters_version)
                actions.append(f"{self.counters_path}: counters raised above the used numbers")
        return actions

    def migrate(self, dry_run: bool = False) -> list[tuple[Path, str, str]]:
        """Rewrite files at the newest format version (the old file kept as `.bak`).
        Returns (path, from, to) for each file that is (or would be) rewritten."""
        if not self._check_dir():
            return []
        with self.lock():
            state = self._load_locked()
            todo = [
                (kind, state.version(kind))
                for kind in (COUNTERS, MAPPING)
                if state.version(kind) != migrations.CURRENT and self.path(kind).exists()
            ]
            if not dry_run:
                for kind, _ in todo:
                    state.doc(kind)["updated"] = utc_now()
                    self._write(kind, state.doc(kind), migrations.CURRENT)
        return [(self.path(kind), old, migrations.CURRENT) for kind, old in todo]


def _reindex(index: model.Index, tracker: Tracker, changed: list[str], name: str) -> list[Problem]:
    """Move the changed entries in `index`; a clash is a problem, as the full check words it."""
    from .validate import clash_problem

    for key in changed:
        index.discard(key, tracker.before[key])
    problems = []
    for key in changed:
        entry = tracker.state.mappings.get(key)
        for clash in [] if entry is None else index.add(key, entry):
            problems.append(clash_problem(name, *clash))
    return problems


def _refuse_unmerged(path: str, error: ExtidError) -> None:
    """A file git holds as conflicted is a merge in progress, not corruption: restoring it
    from `.bak` would silently drop the other branch. Send the user to `extid resolve`."""
    if "conflict marker" not in str(error):
        return
    from . import git

    try:
        top = git.toplevel(os.path.dirname(path))
        unmerged = top is not None and git.rel_to(top, path) in git.unmerged_paths(top)
    except ExtidError:
        return
    if unmerged:
        raise ExtidError(
            f"{path}: unresolved merge conflict; run `extid resolve` (or `extid resolve --ours`"
            " / `--theirs` / `--renumber`) and commit before using the registry"
        )


def _ensure_gitignore(path: Path) -> bool:
    """Write the state directory's `.gitignore`, keeping any lines a user added."""
    data = read_bytes(path)
    if data is None:
        atomic_write(path, GITIGNORE.encode())
        return True
    lines = data.decode("utf-8", "replace").splitlines()
    missing = [line for line in GITIGNORE.splitlines()[1:] if line not in lines]
    if missing:
        text = data.decode("utf-8", "replace")
        text += ("" if text.endswith("\n") or not text else "\n") + "\n".join(missing) + "\n"
        atomic_write(path, text.encode())
    return False


def quarantine(path: str) -> str | None:
    """Give the file at `path` a second name `<path>.corrupt-<UTC time>` (never deleting it)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in range(1000):
        aside = f"{path}.corrupt-{stamp}" + (f"-{n}" if n else "")
        try:
            if _link_or_none(path, aside) is None:
                data = read_bytes(path)
                if data is None:
                    return None
                fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o666)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    os.fsync(f.fileno())
        except FileExistsError:
            continue
        except FileNotFoundError:
            return None
        return aside
    raise ExtidError(f"{path}: too many quarantined copies; clean up {path}.corrupt-*")


# --- numbers mentioned anywhere, for raising counters after a restore --------------------

_KEYED_VALUE_RE = re.compile(rb'"(jira|linear)"\s*:\s*"([A-Z][A-Z0-9_]{0,19})-([1-9][0-9]{0,15})"')
_NUMERIC_VALUE_RE = re.compile(rb'"(azure_devops|github)"\s*:\s*"([1-9][0-9]{0,15})"')
_NUMERIC_COUNTER_RE = re.compile(rb'"(azure_devops|github)"\s*:\s*([0-9]{1,16})\b')
_KEYED_COUNTERS_RE = re.compile(rb'"(jira|linear)"\s*:\s*\{([^{}]*)\}')
_KEY_COUNTER_RE = re.compile(rb'"([A-Z][A-Z0-9_]{0,19})"\s*:\s*([0-9]{1,16})\b')


def scrape_numbers(data: bytes) -> dict[model.CounterKey, int]:
    """Best effort over any bytes (even a half-written or conflicted file): the next number
    each tool/key must at least have, from the external IDs and counters mentioned. Too high
    only costs a gap; too low could re-issue an ID, so everything that looks like one counts."""
    high: dict[model.CounterKey, int] = {}

    def mark(tool: bytes, key: bytes | None, value: int) -> None:
        k = (tool.decode(), None if key is None else key.decode())
        if value > high.get(k, 0):
            high[k] = value

    for m in _KEYED_VALUE_RE.finditer(data):
        mark(m.group(1), m.group(2), int(m.group(3)) + 1)
    for m in _NUMERIC_VALUE_RE.finditer(data):
        mark(m.group(1), None, int(m.group(2)) + 1)
    for m in _NUMERIC_COUNTER_RE.finditer(data):
        mark(m.group(1), None, int(m.group(2)))
    for m in _KEYED_COUNTERS_RE.finditer(data):
        for k in _KEY_COUNTER_RE.finditer(m.group(2)):
            mark(m.group(1), k.group(1), int(k.group(2)))
    return high


# --- git: the last committed version of a file -------------------------------------------


def head_version(path: Path) -> tuple[str, bytes] | None:
    """(repo-relative path, bytes) of `path` at git `HEAD`, or None. Through `extid.git`
    (GitPython), which only this rare recovery path loads."""
    from . import git

    try:
        top = git.toplevel(path.parent)
        if top is None:
            return None
        rel = git.rel_to(top, os.path.realpath(path))
        data = git.head_blob(top, rel)
    except Exception:  # best effort: any failure means "no committed version to offer"
        return None
    return None if data is None else (rel, data)


# --- the seed's API ------------------------------------------------------------------------


def _store_for(state_dir: str | os.PathLike[str] | None) -> Store:
    return Store(state_dir)


def load_mappings(state_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """internal ID -> entry, as stored (a missing file is an empty registry)."""
    return _store_for(state_dir).load().mappings


def save_mappings(
    mappings: dict[str, Any], state_dir: str | os.PathLike[str] | None = None
) -> None:
    """Replace all mappings (validated; counters are raised above the numbers used)."""
    with _store_for(state_dir).transaction() as state:
        state.mapping["mappings"] = copy.deepcopy(mappings)


def load_counters(state_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """tool -> next available number (keyed tools: key -> number), reconciled."""
    return _store_for(state_dir).load().counter_values


def save_counters(
    counters: dict[str, Any], state_dir: str | os.PathLike[str] | None = None
) -> None:
    """Replace the counters (validated; never below a number already used)."""
    with _store_for(state_dir).transaction() as state:
        state.counters["counters"] = copy.deepcopy(counters)
