"""`Store.tracked()` (`extid.store.tracked`): the fast path of single mapper operations.

It trusts a snapshot of the files only while they hold exactly the bytes it last read or
wrote, checks only the touched entries and splices them into the previous bytes. These tests
hold it to the ordinary transaction: same results, same errors, byte-identical files.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from store_helpers import COUNTERS, COUNTERS_FILE, MAPPING, MAPPING_FILE, sample, write_state

from extid import mapper as mapper_module
from extid.document import canonical
from extid.errors import ConflictError, ExtidError, ValidationError
from extid.mapper import ExternalIDMapper
from extid.store import Store, codec
from extid.store.tracked import FastPath

FIXED = "2026-11-26T10:00:00Z"
TOOLS = [("jira", "PROJ"), ("github", None), ("linear", "TEAM"), ("azure_devops", None)]


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "utc_now", lambda: FIXED)
    monkeypatch.setattr(mapper_module, "utc_now", lambda: FIXED)


def registry(size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A registry of `size` tasks (numbers from one sequence per tool), counters consistent."""
    mapping, counters = sample(MAPPING), sample(COUNTERS)
    for n in range(size):
        tool, key = TOOLS[n % 4]
        number = 2000 + n
        mapping["mappings"][f"TASK-R{n % 7}-{n:04x}"] = {
            "created": "2025-02-01T00:00:00Z",
            tool: f"{key}-{number}" if key else str(number),
        }
        if key:
            counters["counters"][tool][key] = number + 1
        else:
            counters["counters"][tool] = number + 1
    return mapping, counters


def files(directory: Path) -> tuple[bytes, bytes]:
    return (directory / MAPPING_FILE).read_bytes(), (directory / COUNTERS_FILE).read_bytes()


def apply(mapper: ExternalIDMapper, op: tuple[Any, ...], *, general: bool) -> Any:
    """One operation, through the tracked path or through an ordinary `batch()`."""
    name, *args = op
    try:
        if general:
            with mapper.batch() as b:
                return getattr(b, name)(*args)
        return getattr(mapper, name)(*args)
    except ExtidError as e:
        return type(e).__name__, str(e)


def random_ops(rng: random.Random, count: int) -> list[tuple[Any, ...]]:
    tasks = [f"TASK-R{n % 7}-{n:04x}" for n in range(0, 80, 3)] + [
        f"TASK-N{n}-{rng.randrange(16**4):04x}" for n in range(20)
    ]
    ops: list[tuple[Any, ...]] = []
    for _ in range(count):
        task, (tool, key) = rng.choice(tasks), rng.choice(TOOLS)
        kind = rng.random()
        if kind < 0.5:
            ops.append(("allocate", task, tool, key))
        elif kind < 0.75:
            number = rng.randrange(1990, 2200)
            ops.append(("record", task, tool, f"{key}-{number}" if key else str(number)))
        else:
            ops.append(("remove", task, rng.choice([None, tool])))
    return ops


@pytest.mark.parametrize("seed", range(3))
def test_tracked_operations_write_what_ordinary_transactions_write(
    tmp_path: Path, seed: int
) -> None:
    fast_dir, slow_dir = tmp_path / "fast", tmp_path / "slow"
    for d in (fast_dir, slow_dir):
        write_state(d, *registry(80))
    fast, slow = ExternalIDMapper(fast_dir), ExternalIDMapper(slow_dir)
    for i, op in enumerate(random_ops(random.Random(seed), 120)):
        got = apply(fast, op, general=False)
        assert got == apply(slow, op, general=True), (i, op)
        assert files(fast_dir) == files(slow_dir), (i, op)
    assert fast.store._fast.snapshot is not None  # the fast path was really taken


def test_a_write_by_another_store_is_seen(tmp_path: Path) -> None:
    write_state(tmp_path, *registry(40))
    first, second = ExternalIDMapper(Store(tmp_path)), ExternalIDMapper(Store(tmp_path))
    got = [first.allocate("TASK-A1-0001", "github")]
    got.append(second.allocate("TASK-A1-0002", "github"))
    got.append(first.allocate("TASK-A1-0003", "github"))
    assert got == ["2038", "2039", "2040"]


def test_a_same_size_edit_with_old_times_is_seen(tmp_path: Path) -> None:
    """File times and sizes can repeat; the snapshot is compared by content."""
    write_state(tmp_path, *registry(40))
    mapper = ExternalIDMapper(tmp_path)
    assert mapper.allocate("TASK-A1-0001", "jira", "PROJ") == "PROJ-2037"
    counters = tmp_path / COUNTERS_FILE
    st = os.stat(counters)
    data = counters.read_bytes()
    assert data.count(b'"PROJ": 2038') == 1
    counters.write_bytes(data.replace(b'"PROJ": 2038', b'"PROJ": 2090'))
    os.utime(counters, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert mapper.allocate("TASK-A1-0002", "jira", "PROJ") == "PROJ-2090"


def test_a_refused_operation_leaves_files_and_next_operations_right(tmp_path: Path) -> None:
    write_state(tmp_path, *registry(40))
    mapper = ExternalIDMapper(tmp_path)
    mapper.allocate("TASK-A1-0001", "github")
    before = files(tmp_path)
    kept = mapper.store._fast.snapshot
    with pytest.raises(ConflictError):
        mapper.record("TASK-A1-0002", "github", "2038")
    assert files(tmp_path) == before
    assert mapper.store._fast.snapshot is kept  # refused before any change: no re-parse
    assert mapper.allocate("TASK-A1-0002", "github") == "2039"


def test_a_tracked_change_breaking_the_schema_is_refused(tmp_path: Path) -> None:
    write_state(tmp_path, *registry(10))
    store = Store(tmp_path)
    ExternalIDMapper(store).allocate("TASK-A1-0001", "github")
    before = files(tmp_path)
    with pytest.raises(ValidationError) as e, store.tracked() as (state, tracker):
        assert tracker is not None
        tracker.touch("TASK-A1-0001")
        state.mappings["TASK-A1-0001"]["github"] = "0042"
    assert str(e.value) == (
        f"{tmp_path / MAPPING_FILE}: $.mappings.TASK-A1-0001.github: "
        '"0042" is not a positive integer without leading zeros'
    )
    assert files(tmp_path) == before
    assert store._fast.snapshot is None  # dropped: it held the refused change


def test_a_tracked_change_making_a_collision_is_refused(tmp_path: Path) -> None:
    write_state(tmp_path, *registry(10))
    store = Store(tmp_path)
    before = files(tmp_path)
    with pytest.raises(ValidationError, match="also held by"), store.tracked() as (state, t):
        assert t is not None
        t.touch("TASK-Z1-0001")
        state.mappings["TASK-Z1-0001"] = {"jira": "PROJ-456"}
    assert files(tmp_path) == before
    assert ExternalIDMapper(store).allocate("TASK-Z1-0001", "jira", "PROJ") == "PROJ-2009"


def test_a_registry_with_a_collision_takes_the_ordinary_path(tmp_path: Path) -> None:
    mapping, counters = registry(10)
    mapping["mappings"]["TASK-Z1-0001"] = {"jira": "PROJ-456"}  # as a bad merge leaves it
    write_state(tmp_path, mapping, counters)
    store = Store(tmp_path)
    with store.tracked() as (_, tracker):
        assert tracker is None
    with pytest.raises(ValidationError, match="also held by"):
        ExternalIDMapper(store).allocate("TASK-Z1-0002", "github")


def test_nested_in_a_transaction_it_joins(tmp_path: Path) -> None:
    write_state(tmp_path, *registry(10))
    store = Store(tmp_path)
    mapper = ExternalIDMapper(store)
    before = files(tmp_path)
    with pytest.raises(RuntimeError), store.transaction():
        assert mapper.allocate("TASK-A1-0001", "github") == "2010"
        raise RuntimeError("discard all")
    assert files(tmp_path) == before


def test_an_old_format_file_is_written_whole_then_spliced(tmp_path: Path) -> None:
    mapping, counters = registry(10)
    write_state(tmp_path, mapping["mappings"], counters["counters"])  # unversioned 0.x
    mapper = ExternalIDMapper(tmp_path)
    assert mapper.allocate("TASK-A1-0001", "github") == "2010"
    assert mapper.allocate("TASK-A1-0002", "github") == "2011"
    written = (tmp_path / MAPPING_FILE).read_bytes()
    assert b'"version"' not in written  # an ordinary write keeps the version (migrate upgrades)
    assert b'"TASK-A1-0002": {' in written


@pytest.mark.parametrize("seed", range(2))
def test_two_stores_taking_turns_match_one_ordinary_writer(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each store sees the other's writes through the entry diff (`FastPath.refreshed`)."""
    shared, reference = tmp_path / "shared", tmp_path / "reference"
    for d in (shared, reference):
        write_state(d, *registry(80))
    refreshed: list[bool] = []
    real = FastPath.refreshed

    def spy(self: FastPath, snapshot: Any, raw: Any) -> Any:
        result = real(self, snapshot, raw)
        refreshed.append(result is not None)
        return result

    monkeypatch.setattr(FastPath, "refreshed", spy)
    turns = [ExternalIDMapper(Store(shared)), ExternalIDMapper(Store(shared))]
    slow = ExternalIDMapper(reference)
    rng = random.Random(seed)
    for i, op in enumerate(random_ops(rng, 80)):
        got = apply(rng.choice(turns), op, general=False)
        assert got == apply(slow, op, general=True), (i, op)
        assert files(shared) == files(reference), (i, op)
    assert refreshed.count(True) > 20


def test_a_hand_edit_between_operations_is_read_whole(tmp_path: Path) -> None:
    """A file that is not canonical any more cannot be diffed entry by entry."""
    write_state(tmp_path, *registry(40))
    mapper = ExternalIDMapper(tmp_path)
    mapper.allocate("TASK-A1-0001", "github")
    path = tmp_path / MAPPING_FILE
    data = path.read_bytes()
    # The same document with one entry re-indented by hand and another one given a task.
    edited = data.replace(b'"TASK-A1-0001": {\n      "created"', b'"TASK-A1-0001": {\n  "created"')
    edited = edited.replace(b'"github": "2037"', b'"github": "2090"')
    path.write_bytes(edited)
    assert mapper.allocate("TASK-A1-0002", "github") == "2091"
    assert mapper.store._fast.snapshot is not None
    written = path.read_bytes()
    assert written == canonical(json.loads(written))  # canonical again


def test_a_diff_that_would_collide_is_read_whole_and_refused(tmp_path: Path) -> None:
    write_state(tmp_path, *registry(40))
    mapper = ExternalIDMapper(tmp_path)
    mapper.allocate("TASK-A1-0001", "github")
    path = tmp_path / MAPPING_FILE
    # Another writer (a bad merge) gives a second task the same github ID, canonically.
    doc = json.loads(path.read_bytes())
    doc["mappings"]["TASK-A1-0002"] = {"github": "2038"}
    path.write_bytes(canonical(doc))
    with pytest.raises(ValidationError, match="also held by"):
        mapper.allocate("TASK-A1-0003", "github")
