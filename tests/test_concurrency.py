"""Many real processes and threads on one state directory: no lost update, no duplicate ID.

Workers start together (an Event released once all are running) so they really contend for
the lock; the files are checked with `extid check`'s own validation afterwards.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest
from store_helpers import COUNTERS_FILE, MAPPING_FILE

from extid import ExternalIDMapper, Store
from extid.checkfiles import check_paths

CONTEXT = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")


def _allocate_many(state_dir: str, worker: int, count: int, tool: str, go: Event, out: Any) -> None:
    go.wait(60)
    mapper = ExternalIDMapper(state_dir)
    project = "PROJ" if tool in ("jira", "linear") else None
    got = [mapper.allocate(f"TASK-{worker:02x}{i:02x}", tool, project) for i in range(count)]
    out.put((worker, got))


def _same_task(state_dir: str, go: Event, out: Any) -> None:
    go.wait(60)
    out.put(ExternalIDMapper(state_dir).allocate("TASK-E01-b2c4", "jira", "PROJ"))


def run_processes(target: Any, args_list: list[tuple[Any, ...]]) -> list[Any]:
    go, out = CONTEXT.Event(), CONTEXT.Queue()
    procs = [CONTEXT.Process(target=target, args=(*args, go, out)) for args in args_list]
    for p in procs:
        p.start()
    go.set()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return results


def assert_files_valid(state_dir: Path) -> None:
    paths = [str(state_dir / MAPPING_FILE), str(state_dir / COUNTERS_FILE)]
    assert check_paths(paths) == []
    assert not [n for n in (p.name for p in state_dir.iterdir()) if ".tmp-" in n]


@pytest.mark.slow
def test_16_processes_50_allocations_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The lock is not fair: on a loaded 2-core CI box (coverage, xdist) one of 16 processes
    # can wait longer than the default 4 x 10 s. Uniqueness, not latency, is tested here.
    monkeypatch.setenv("EXTID_LOCK_TIMEOUT", "120")
    state_dir = tmp_path / "state"
    results = run_processes(_allocate_many, [(str(state_dir), w, 50, "github") for w in range(16)])
    issued = [ext for _, got in results for ext in got]
    assert len(issued) == 800
    assert sorted(issued, key=int) == [str(n) for n in range(1, 801)]  # unique, no gaps
    state = Store(state_dir).load()
    assert state.counter_values["github"] == 801
    assert len(state.mappings) == 800
    for worker, got in results:  # every process's view is what was stored
        for i, ext in enumerate(got):
            assert state.mappings[f"TASK-{worker:02x}{i:02x}"]["github"] == ext
    assert_files_valid(state_dir)


def test_8_processes_same_task_get_one_id(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    results = run_processes(_same_task, [(str(state_dir),)] * 8)
    assert results == ["PROJ-1"] * 8
    assert Store(state_dir).load().counter_values["jira"] == {"PROJ": 2}
    assert_files_valid(state_dir)


def test_8_threads_same_task_get_one_id(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    barrier = threading.Barrier(8)
    got: list[str] = []

    def work() -> None:
        mapper = ExternalIDMapper(state_dir)  # one mapper per thread, as callers do
        barrier.wait()
        got.append(mapper.allocate("TASK-E01-b2c4", "github"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["1"] * 8
    assert Store(state_dir).load().counter_values["github"] == 2


def test_threads_sharing_one_mapper(tmp_path: Path) -> None:
    mapper = ExternalIDMapper(tmp_path / "state")
    got: list[str] = []
    barrier = threading.Barrier(6)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(5):
            got.append(mapper.allocate(f"TASK-{n:02x}{i:02x}", "azure_devops"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got, key=int) == [str(n) for n in range(1, 31)]


def test_two_mappers_in_two_processes_lose_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    results = run_processes(
        _allocate_many, [(str(state_dir), 1, 40, "github"), (str(state_dir), 2, 40, "jira")]
    )
    by_worker = dict(results)
    assert by_worker[1] == [str(n) for n in range(1, 41)]
    assert by_worker[2] == [f"PROJ-{n}" for n in range(1, 41)]
    state = Store(state_dir).load()
    assert len(state.mappings) == 80
    assert state.counter_values["github"] == 41
    assert state.counter_values["jira"] == {"PROJ": 41}
    assert_files_valid(state_dir)


KILLED_WRITER = """
import sys
from extid import ExternalIDMapper
mapper = ExternalIDMapper(sys.argv[1])
start = int(sys.argv[2])
for i in range(start, start + 10_000):
    print(f"TASK-{i:04x}", mapper.allocate(f"TASK-{i:04x}", "github"), flush=True)
"""


def test_sigkill_mid_write_loses_nothing_printed_and_reissues_nothing(tmp_path: Path) -> None:
    """A writer killed at a random moment: every ID it reported is on disk, the lock is free,
    its temp files are swept by the next writer and no number comes round twice."""
    import random
    import signal
    import subprocess
    import time

    state_dir = tmp_path / "state"
    reported: dict[str, str] = {}
    for round_ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(state_dir), str(0x1000 * (round_ + 1))],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline().split()  # it is writing: kill it somewhere inside
        time.sleep(random.Random(round_).uniform(0.0, 0.2))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        lines = rest.split("\n")[:-1]  # a last line without its newline was cut by the kill
        for task, ext in (line.split() for line in [" ".join(first), *lines]):
            reported[task] = ext
    mapper = ExternalIDMapper(state_dir)
    after = mapper.allocate("TASK-ffff", "github")  # takes the lock: it must be free
    mappings = mapper.mappings()
    for task, ext in reported.items():
        assert mappings[task]["github"] == ext
    numbers = [int(e["github"]) for e in mappings.values()]
    assert len(numbers) == len(set(numbers)) and int(after) == max(numbers)
    assert_files_valid(state_dir)
