"""Kills, contention and locks: real processes, real SIGKILL, real flock.

Every worker prints (or logs) an operation only after extid returned it, so what a worker
reported is exactly what extid acknowledged; the files must hold all of it, whatever was killed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import uncovered_env
from hostile_helpers import COUNTERS_FILE, MAPPING_FILE, tmpfs_or_plain, write_state

from extid import checkfiles, document
from extid.errors import LockTimeoutError
from extid.mapper import ExternalIDMapper
from extid.store import Store

TOOLS = (("github", None), ("azure_devops", None), ("jira", "PROJ"), ("linear", "TEAM"))


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    with tmpfs_or_plain(tmp_path / "fast") as base:
        directory = base / "state"
        write_state(directory)
        yield directory


def state_files(directory: Path) -> list[str]:
    return [str(directory / MAPPING_FILE), str(directory / COUNTERS_FILE)]


def temp_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)


def mappings_of(directory: Path) -> dict[str, Any]:
    obj = document.parse((directory / MAPPING_FILE).read_bytes(), MAPPING_FILE).obj
    result: dict[str, Any] = obj["mappings"]
    return result


# --- SIGKILL at random moments --------------------------------------------------------------

ALLOCATOR = """
import os, signal, sys
from extid.mapper import ExternalIDMapper
from extid.store import Store
run, kill_at = int(sys.argv[2]), int(sys.argv[3])
if kill_at:  # die at the kill_at-th syscall of the saves: inside the write sequence for sure
    calls, active = [0], [False]
    save = Store._save

    def spying_save(self, files, ledger=None):
        active[0] = True
        try:
            save(self, files, ledger)
        finally:
            active[0] = False

    Store._save = spying_save
    for name in "open fchmod fchown write fsync close link replace unlink".split():
        def wrapped(*args, _real=getattr(os, name), **kwargs):
            if active[0]:
                calls[0] += 1
                if calls[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return _real(*args, **kwargs)
        setattr(os, name, wrapped)
mapper = ExternalIDMapper(Store(sys.argv[1], lock_timeout=30))
tools = [("github", None), ("azure_devops", None), ("jira", "PROJ"), ("linear", "TEAM")]
print("ready", flush=True)
for i in range(4096):
    tool, project = tools[i % 4]
    task = f"TASK-{run:02x}{i:03x}"
    external = mapper.allocate(task, tool, project)
    # One write per line: print() writes its pieces one by one, and a kill between them
    # leaves half a line.
    sys.stdout.write(f"{task} {tool} {external}\\n")
    sys.stdout.flush()
"""


def kill_rounds(state_dir: Path, rounds: int, seed: int) -> dict[str, int]:
    """`rounds` allocator processes, each SIGKILLed after a random delay. Returns figures."""
    rng = random.Random(seed)
    acknowledged: dict[tuple[str, str], str] = {}
    issued: set[tuple[str, str]] = set()
    figures = {"kills": 0, "acknowledged": 0, "temp files swept": 0}
    for run in range(rounds):
        # Odd rounds: at a random moment. Even rounds: at a random syscall of the saves.
        kill_at = 0 if run % 2 else rng.randint(1, 100)
        proc = subprocess.Popen(
            [sys.executable, "-c", ALLOCATOR, str(state_dir), str(run), str(kill_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=uncovered_env(),  # killed: it would never write its coverage data
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if not kill_at and first == "ready\n":
            time.sleep(rng.uniform(0, 0.12))
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        where = f"round {run}, kill_at {kill_at}: {err[-2000:]}"
        assert first == "ready\n", where
        assert proc.returncode == -signal.SIGKILL, where
        figures["kills"] += 1
        for line in out.splitlines():
            task, tool, external = line.split()
            acknowledged[(task, tool)] = external
            assert (tool, external) not in issued, f"{tool} {external} issued twice"
            issued.add((tool, external))
        figures["temp files swept"] += len(temp_files(state_dir))
        # Both files load and validate (they are read without the lock, as readers do).
        assert checkfiles.check_paths(state_files(state_dir)) == [], where
        mappings = mappings_of(state_dir)
        for (task, tool), external in acknowledged.items():
            assert mappings.get(task, {}).get(tool) == external, f"lost {task} {tool}; {where}"
    figures["acknowledged"] = len(acknowledged)
    with Store(state_dir).transaction():
        pass  # the next writer sweeps what killed writers left
    assert temp_files(state_dir) == []
    held = {(t, e) for entry in mappings_of(state_dir).values() for t, e in entry.items()}
    assert issued <= held
    return figures


def test_sigkill_during_allocations(state_dir: Path) -> None:
    figures = kill_rounds(state_dir, 30, seed=6)
    assert figures["kills"] == 30 and figures["acknowledged"] > 30
    print(f"\nSIGKILL: {figures}")


@pytest.mark.slow
def test_sigkill_during_allocations_200(state_dir: Path) -> None:
    figures = kill_rounds(state_dir, 200, seed=200)
    assert figures["kills"] == 200
    print(f"\nSIGKILL: {figures}")


# --- 16 processes x 100 mixed operations, with readers ----------------------------------------

MIXED = """
import json, random, sys
from extid.mapper import ExternalIDMapper
from extid.store import Store
from extid.errors import ConflictError
state_dir, worker, count, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(worker)
mapper = ExternalIDMapper(Store(state_dir, lock_timeout=60))
tools = [("github", None), ("azure_devops", None), ("jira", "PROJ"), ("linear", "TEAM")]
tasks = [f"TASK-{worker:02x}{i:02x}" for i in range(6)]
model = {}
with open(log, "w") as out:
    for i in range(count):
        task = rng.choice(tasks)
        tool, project = rng.choice(tools)
        op = rng.choice(["allocate", "allocate", "record", "remove", "lookup"])
        if op == "allocate":
            result = mapper.allocate(task, tool, project)
            assert model.setdefault(task, {}).setdefault(tool, result) == result
        elif op == "record":
            # Numbers of their own, falling: once a record raised the counter, allocations go
            # above it and this worker's later (lower) records can never meet them.
            number = 10**9 + worker * 10**6 + 1000 - i
            external = f"R{worker:02d}-{i + 1}" if project else str(number)
            tool = "jira" if project else tool
            try:
                result = mapper.record(task, tool, external)
                model.setdefault(task, {})[tool] = result
            except ConflictError:
                result = "conflict"  # the task already has another ID in that tool
                assert model.get(task, {}).get(tool) not in (None, external)
        elif op == "remove":
            result = mapper.remove(task, tool if rng.random() < 0.5 else None)
            entry = model.get(task, {})
            for t in result:
                assert entry.pop(t) == result[t]
        else:
            result = mapper.external_ids(task)
            assert result == {t: e for t, e in model.get(task, {}).items()}, (result, model)
        out.write(json.dumps([op, task, tool, result]) + "\\n")
        out.flush()
print(json.dumps({t: e for t, e in model.items() if e}))
"""

READER = """
import os, sys
from extid import document, validate
state_dir, stop = sys.argv[1], sys.argv[2]
m_path = os.path.join(state_dir, "external_id_mapping.json")
c_path = os.path.join(state_dir, "external_id_counters.json")
reads = 0
while not os.path.exists(stop):
    # Mapping first: counters are written first, so they can only be newer than the mapping.
    with open(m_path, "rb") as f:
        m = document.parse(f.read(), m_path).obj
    with open(c_path, "rb") as f:
        c = document.parse(f.read(), c_path).obj
    problems = validate.check_document(m, "mapping", m_path)
    problems += validate.check_document(c, "counters", c_path)
    problems += validate.check_pair(m, c, m_path, c_path)
    assert not problems, problems
    reads += 1
print(reads)
"""


def run_mixed(state_dir: Path, workers: int, count: int, readers: int) -> dict[str, int]:
    logs = [state_dir.parent / f"worker{w}.log" for w in range(workers)]
    stop = state_dir.parent / "stop"
    reader_procs = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(state_dir), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(readers)
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIXED, str(state_dir), str(w), str(count), str(logs[w])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    models: dict[str, dict[str, str]] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        models.update(json.loads(out))
    stop.touch()
    reads = 0
    for proc in reader_procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        reads += int(out)
    check_against_logs(state_dir, logs, models)
    return {"operations": workers * count, "reads": reads}


WORKER_TASK = re.compile(r"TASK-[0-9a-f]{4}")


def check_against_logs(
    state_dir: Path, logs: list[Path], models: dict[str, dict[str, str]]
) -> None:
    """The files equal the sequential model of the acknowledged operations: tasks are private to
    a worker, so each task's entry is its worker's log replayed; IDs are global, so every
    allocated ID is unique across all logs and below its counter."""
    assert checkfiles.check_paths(state_files(state_dir)) == []
    final = {
        task: {t: e for t, e in entry.items() if t not in ("created", "epic")}
        for task, entry in mappings_of(state_dir).items()
        if WORKER_TASK.fullmatch(task)
    }
    replayed: dict[str, dict[str, str]] = {}
    allocated: list[tuple[str, str]] = []
    for log in logs:
        for line in log.read_text().splitlines():
            op, task, tool, result = json.loads(line)
            entry = replayed.setdefault(task, {})
            if op == "allocate":
                if tool not in entry:
                    allocated.append((tool, result))
                entry[tool] = result
            elif op == "record" and result != "conflict":
                entry[tool] = result
            elif op == "remove":
                for t in result:
                    del entry[t]
    replayed = {task: entry for task, entry in replayed.items() if entry}
    assert replayed == models  # each worker's own view agrees with its log
    assert final == replayed
    assert len(allocated) == len(set(allocated)), "an ID was issued twice"


def test_16_processes_100_mixed_operations_with_readers(state_dir: Path) -> None:
    figures = run_mixed(state_dir, workers=16, count=100, readers=2)
    assert figures["reads"] > 0
    print(f"\nmixed: {figures}")


# --- threads, fork, spawn ---------------------------------------------------------------------


def test_thread_pool_in_one_process(state_dir: Path) -> None:
    def work(n: int) -> list[str]:
        mapper = ExternalIDMapper(Store(state_dir)) if n % 2 else shared
        tool, project = TOOLS[n % 4]
        return [mapper.allocate(f"TASK-{n:02x}{i:02x}", tool, project) for i in range(10)]

    shared = ExternalIDMapper(Store(state_dir))
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(16)))
    by_tool: dict[str, list[str]] = {}
    for n, got in enumerate(results):
        by_tool.setdefault(TOOLS[n % 4][0], []).extend(got)
    for ids in by_tool.values():
        assert len(ids) == len(set(ids)) == 40
    assert checkfiles.check_paths(state_files(state_dir)) == []


def _allocate_in_child(state_dir: str, worker: int, out: Any) -> None:
    mapper = ExternalIDMapper(Store(state_dir))
    out.put([mapper.allocate(f"TASK-{worker:02x}{i:02x}", "github") for i in range(10)])


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_fork_and_spawn_start_methods(state_dir: Path, method: str) -> None:
    # The parent has used the store (and its lock object) before the children start.
    ExternalIDMapper(Store(state_dir)).allocate("TASK-ffff", "github")
    context = multiprocessing.get_context(method)
    out = context.Queue()
    procs = [
        context.Process(target=_allocate_in_child, args=(str(state_dir), w, out)) for w in range(4)
    ]
    for p in procs:
        p.start()
    got = [n for _ in procs for n in out.get(timeout=120)]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(got) == len(set(got)) == 40 and "235" not in got
    assert checkfiles.check_paths(state_files(state_dir)) == []


def _try_lock(state_dir: str, out: Any) -> None:
    try:
        with Store(state_dir, lock_timeout=0.05).transaction():
            out.put("acquired")
    except LockTimeoutError as e:
        out.put(str(e))


def test_child_forked_inside_a_transaction_does_not_inherit_the_lock(state_dir: Path) -> None:
    """The thread-local "held" table is copied by fork: the child must still wait for the lock."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    with Store(state_dir).transaction():
        child = context.Process(target=_try_lock, args=(str(state_dir), out))
        child.start()
        message = out.get(timeout=60)
        child.join(60)
    assert message.startswith(f"{state_dir / '.extid.lock'}: lock still held")


# --- the lock ---------------------------------------------------------------------------------

HOLDER = """
import sys, time
from extid.store import Store
with Store(sys.argv[1]).transaction() as state:
    state.mappings["TASK-dead"] = {"github": "999"}  # would be saved on a clean exit
    print("held", flush=True)
    time.sleep(120)
"""


def test_lock_holder_killed_with_sigkill(state_dir: Path) -> None:
    before = {p: Path(p).read_bytes() for p in state_files(state_dir)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_dir)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    with pytest.raises(LockTimeoutError) as info, Store(state_dir, lock_timeout=0.05).transaction():
        pass
    assert str(info.value).startswith(f"{state_dir / '.extid.lock'}: lock still held")
    holder.send_signal(signal.SIGKILL)
    holder.wait(60)
    # At once: one attempt of 50 ms is plenty, the kernel dropped the flock with the process.
    mapper = ExternalIDMapper(Store(state_dir, lock_timeout=0.05))
    assert mapper.allocate("TASK-0001", "github") == "235"
    assert "TASK-dead" not in mappings_of(state_dir)
    assert {p: Path(p).read_bytes() for p in state_files(state_dir)} != before


def test_second_lock_instance_in_the_same_thread_never_hangs(state_dir: Path) -> None:
    from filelock import FileLock, Timeout

    with Store(state_dir).transaction() as outer:
        # Another Store of the same directory joins the open transaction (re-entrant)...
        with Store(state_dir, lock_timeout=0.05).transaction() as inner:
            assert inner is outer
        # ...while a foreign lock instance on the same file times out instead of hanging.
        with pytest.raises(Timeout):
            FileLock(str(state_dir / ".extid.lock"), timeout=0.05).acquire()


def test_lock_is_exclusive_across_threads(state_dir: Path) -> None:
    errors: list[str] = []
    with Store(state_dir).transaction():

        def other() -> None:
            try:
                with Store(state_dir, lock_timeout=0.02).transaction():
                    errors.append("acquired a held lock")
            except LockTimeoutError as e:
                errors.append(str(e))

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(60)
    assert len(errors) == 1 and str(state_dir / ".extid.lock") in errors[0]
