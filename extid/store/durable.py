"""Durable file primitives: atomic replace, `.bak` by hard link, directory fsync, reading
without following symlinks, the temp sweep and quarantine of corrupt files.

Syscalls go through the `os` module (`os.fsync`, `os.replace`, `os.link`, `os.write`, ...) so
a test can inject a fault at one precise step by patching it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import time
from pathlib import Path

from .. import document
from ..errors import ExtidError, ParseError, UnsafePathError

_TEMP_RE = re.compile(r"\A\..+\.tmp-[0-9a-f]{16}\Z")
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# Errors of os.link that mean "this filesystem has no hard links here", not a real failure.
_NO_LINK_ERRNOS = frozenset({1, 18, 31, 38, 95})  # EPERM EXDEV EMLINK ENOSYS EOPNOTSUPP


class WriteError(ExtidError):
    """A write did not complete; the file it was replacing is unchanged."""


def _temp_name(path: str) -> str:
    directory, base = os.path.split(path)
    return os.path.join(directory, f".{base}.tmp-{secrets.token_hex(8)}")


def lstat(path: str) -> os.stat_result | None:
    """`os.lstat`, None for a missing file; any other failure is a user error naming it."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:  # e.g. a directory on the way this user may not search
        raise ExtidError(f"{path}: cannot access ({reason(e)})") from e


def refuse_symlink(path: str, st: os.stat_result | None) -> None:
    """Refuse `path` if `st` (its lstat) says it is a symlink."""
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


def existing_dir(path: Path) -> bool:
    """Whether the directory `path` exists; refuses a symlink or anything else in its place."""
    st = lstat(str(path))
    refuse_symlink(str(path), st)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ExtidError(f"{path}: is not a directory")
    return st is not None


def ensure_dir(path: Path) -> None:
    """Create the directory `path` (mode from the umask) if it is missing, durably."""
    if existing_dir(path):
        return
    try:
        os.makedirs(path, mode=0o777, exist_ok=True)
        fsync_dir(str(path.parent))
    except OSError as e:
        raise ExtidError(f"{path}: cannot create ({reason(e)})") from e
    existing_dir(path)


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
    old = lstat(target)
    refuse_symlink(target, old)
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
        raise WriteError(f"{target}: write failed ({reason(e)}); the file is unchanged") from e
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
            f"{target}: could not make the write durable ({reason(cause)}); "
            "the new version is in place but may not survive a crash"
        )
    try:
        os.replace(keep, target)
        with contextlib.suppress(OSError):
            fsync_dir(os.path.dirname(target) or os.curdir)
    except OSError:
        _unlink_quietly(keep)
        return WriteError(
            f"{target}: could not make the write durable ({reason(cause)}) nor roll it back"
        )
    return WriteError(f"{target}: write failed ({reason(cause)}); the file is unchanged")


def reason(e: OSError) -> str:
    """An OSError as the few words a one-line message carries."""
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
    refuse_symlink(source, st := lstat(source))
    if st is None:
        return None
    refuse_symlink(backup, old_backup := lstat(backup))
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
        raise WriteError(f"{backup}: backup failed ({reason(e)}); nothing was written") from e
    return Path(backup)


def read_bytes(path: str | os.PathLike[str]) -> bytes | None:
    """The contents of `path`, None if it does not exist; never through a symlink."""
    name = os.fspath(path)
    try:
        return document.read_regular(name)
    except FileNotFoundError:
        return None
    except OSError as e:
        refuse_symlink(name, lstat(name))
        raise ExtidError(f"{name}: cannot read ({reason(e)})") from e
    except ParseError as e:
        if e.corrupt:  # over the limit: the store may restore it
            raise
        raise ExtidError(f"{e}; {e.fix} (nothing was changed)") from None


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
            st = lstat(full)
            if st is not None and stat.S_ISREG(st.st_mode):
                _unlink_quietly(full)
                removed.append(full)
    return removed


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
