"""The lock of a state directory: `<state_dir>/.extid.lock` through filelock, re-entrant per
thread, with a timeout and a few retries."""

from __future__ import annotations

import contextlib
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ExtidError, LockTimeoutError
from .durable import lstat, reason, refuse_symlink

LOCK_FILE = ".extid.lock"
#: Seconds one attempt waits for the lock (`EXTID_LOCK_TIMEOUT` overrides it).
DEFAULT_LOCK_TIMEOUT = 10.0
#: Attempts after the first one, each after an exponentially growing pause.
LOCK_RETRIES = 3
LOCK_BACKOFF = 0.1
#: How often a waiter re-tries the lock; flock itself cannot time out.
LOCK_POLL = 0.05
#: After this long waiting, say so once on stderr (silence for longer looks like a hang).
WAIT_NOTICE_AFTER = 1.0

_local = threading.local()


def held() -> dict[tuple[int, str], list[Any]]:
    """This thread's holds: (pid, real state dir) -> [depth, State of an open transaction]."""
    holds: dict[tuple[int, str], list[Any]] | None = getattr(_local, "holds", None)
    if holds is None:
        holds = _local.holds = {}
    return holds


def timeout_setting() -> float:
    """`EXTID_LOCK_TIMEOUT` in seconds, else the default."""
    value = os.environ.get("EXTID_LOCK_TIMEOUT") or str(DEFAULT_LOCK_TIMEOUT)
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ExtidError(f"EXTID_LOCK_TIMEOUT={value!r} is not a number of seconds")
    return seconds


class DirLock:
    """The lock file of one state directory, taken once per thread and re-entered through
    `held()`, where the store also keeps the `State` a nested transaction joins."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._filelock: Any = None
        self._filelock_pid = -1
        self._making = threading.Lock()

    @contextlib.contextmanager
    def hold(self, key: tuple[int, str]) -> Iterator[bool]:
        """Hold the lock for this thread under `key` (pid, real state dir); yields whether
        this is the outermost hold (the one that took the lock file)."""
        holds = held()
        if key in holds:
            holds[key][0] += 1
            try:
                yield False
            finally:
                holds[key][0] -= 1
            return
        lock = self.acquire()
        holds[key] = [1, None]
        try:
            yield True
        finally:
            del holds[key]
            lock.release()  # the object this thread took: another may have been made since

    def _lock_object(self) -> Any:
        # A lock object must not cross a fork; a child builds its own. Threads sharing this
        # Store make it once: two made at once let one thread release the other's object
        # and keep its own taken (the next waiter times out, or a third thread gets in).
        with self._making:
            if self._filelock is None or self._filelock_pid != os.getpid():
                from filelock import FileLock

                # thread_local (the default): each thread locks through its own descriptor,
                # so threads exclude each other like processes do. Not is_singleton:
                # re-entrancy is handled by `held()`, which also makes a nested transaction
                # share the outer State; a re-entered singleton lock would let it load and
                # save a stale copy.
                self._filelock = FileLock(
                    str(self.path), timeout=self.timeout, poll_interval=LOCK_POLL
                )
                self._filelock_pid = os.getpid()
            return self._filelock

    def acquire(self) -> Any:
        """Take the lock, refusing a symlinked lock file: the FileLock taken (release that
        one); `LockTimeoutError` after retries. Past the first second of waiting, one line on
        stderr says who is waited for."""
        refuse_symlink(str(self.path), lstat(str(self.path)))
        lock = self._lock_object()
        first = self.timeout
        if self.timeout > WAIT_NOTICE_AFTER:  # the first attempt, in two parts
            if self._try(lock, WAIT_NOTICE_AFTER):
                return lock
            print(
                f"extid: another extid process holds {self.path}; waiting for it "
                f"(at most {self.longest_wait():.0f}s more, see EXTID_LOCK_TIMEOUT)",
                file=sys.stderr,
                flush=True,
            )
            first -= WAIT_NOTICE_AFTER
        pause = LOCK_BACKOFF
        for attempt in range(LOCK_RETRIES + 1):
            if self._try(lock, first if attempt == 0 else self.timeout):
                return lock
            if attempt < LOCK_RETRIES:
                time.sleep(pause * (1 + random.random()))
                pause *= 2
        raise LockTimeoutError(
            f"{self.path}: lock still held by another process after "
            f"{LOCK_RETRIES + 1} attempts of {self.timeout:g}s; is another extid running?"
        )

    def _try(self, lock: Any, seconds: float) -> bool:
        """Whether the lock was taken within `seconds`."""
        from filelock import Timeout

        try:
            lock.acquire(timeout=seconds)
        except Timeout:
            return False
        except OSError as e:
            refuse_symlink(str(self.path), lstat(str(self.path)))
            raise ExtidError(f"{self.path}: cannot lock ({reason(e)})") from e
        return True

    def longest_wait(self) -> float:
        """Seconds `acquire` still waits after its notice: the attempts and the longest
        pauses between them."""
        pauses = sum(LOCK_BACKOFF * (2 << n) for n in range(LOCK_RETRIES))  # each at most 2x
        return (LOCK_RETRIES + 1) * self.timeout - WAIT_NOTICE_AFTER + pauses
