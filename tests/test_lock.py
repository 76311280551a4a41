"""The lock of a state directory (`extid.store.lock`): timeouts, nesting, threads and the
sweep of stale temp files, with real locks held by real processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from store_helpers import (
    MAPPING_FILE,
    snapshot,
    write_state,
)

import extid
from extid.errors import (
    ExtidError,
    LockTimeoutError,
)
from extid.store import Store

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


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_bad_lock_timeout_setting_is_a_user_error(
    monkeypatch: pytest.MonkeyPatch, state_dir: Path, value: str
) -> None:
    monkeypatch.setenv("EXTID_LOCK_TIMEOUT", value)
    with pytest.raises(ExtidError, match="EXTID_LOCK_TIMEOUT"):
        Store(state_dir)
    monkeypatch.setenv("EXTID_LOCK_TIMEOUT", "2.5")
    assert Store(state_dir).lock_timeout == 2.5
