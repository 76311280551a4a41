"""ExternalIDMapper over a real store in tmp_path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from store_helpers import COUNTERS_FILE, GUARDKIT, MAPPING, MAPPING_FILE, snapshot, write_state

import extid
from extid import ExternalIDMapper, Store
from extid.errors import BadArgumentError, ConflictError, ExtidError


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def mapper(state_dir: Path) -> ExternalIDMapper:
    return ExternalIDMapper(state_dir)


def on_disk(state_dir: Path) -> tuple[dict[str, object], dict[str, object]]:
    return (
        json.loads((state_dir / MAPPING_FILE).read_text()),
        json.loads((state_dir / COUNTERS_FILE).read_text()),
    )


def test_allocate_numbers_each_tool_and_key_from_one(mapper: ExternalIDMapper) -> None:
    assert mapper.allocate("TASK-a3f2", "jira", "PROJ") == "PROJ-1"
    assert mapper.allocate("TASK-b3f2", "jira", "PROJ") == "PROJ-2"
    assert mapper.allocate("TASK-b3f2", "jira", "OTHER") == "PROJ-2"  # the task has one
    assert mapper.allocate("TASK-c3f2", "jira", "other") == "OTHER-1"
    assert mapper.allocate("TASK-a3f2", "linear", "TEAM") == "TEAM-1"
    assert mapper.allocate("TASK-a3f2", "github") == "1"
    assert mapper.allocate("TASK-a3f2", "azure_devops") == "1"
    assert mapper.allocate("TASK-b3f2", "azure_devops") == "2"
    assert mapper.external_ids("TASK-a3f2") == {
        "azure_devops": "1",
        "github": "1",
        "jira": "PROJ-1",
        "linear": "TEAM-1",
    }
    assert mapper.counters() == {
        "azure_devops": 3,
        "github": 2,
        "jira": {"OTHER": 2, "PROJ": 3},
        "linear": {"TEAM": 2},
    }


def test_allocate_continues_from_existing_registry(state_dir: Path) -> None:
    write_state(state_dir)
    mapper = ExternalIDMapper(Store(state_dir))
    assert mapper.allocate("TASK-a3f2", "jira", "PROJ") == "PROJ-457"
    assert mapper.allocate("TASK-a3f2", "github") == "235"
    assert mapper.allocate("TASK-E01-b2c4", "github") == "234"
    assert mapper.allocate("TASK-a3f2", "jira", "NEW") == "PROJ-457"
    assert mapper.allocate("TASK-b3f2", "jira", "NEW") == "NEW-1"


def test_ids_equal_up_to_case_are_one_task_stored_spelling_kept(
    mapper: ExternalIDMapper, state_dir: Path
) -> None:
    assert mapper.allocate("TASK-E01-b2c4", "jira", "PROJ") == "PROJ-1"
    assert mapper.allocate("TASK-E01-B2C4", "jira", "PROJ") == "PROJ-1"
    assert mapper.allocate("task-e01-B2c4", "github") == "1"
    assert list(on_disk(state_dir)[0]["mappings"]) == ["TASK-E01-b2c4"]  # type: ignore[call-overload]
    assert mapper.external_ids("TASK-e01-B2C4") == {"github": "1", "jira": "PROJ-1"}
    assert mapper.internal_id("github", "1") == "TASK-E01-b2c4"


def test_new_task_typed_in_lower_case_is_stored_valid(mapper: ExternalIDMapper) -> None:
    mapper.allocate("task-e01-b2c4.1", "github")
    assert list(mapper.mappings()) == ["TASK-E01-b2c4.1"]


def test_created_on_first_mapping_updated_on_every_write(
    mapper: ExternalIDMapper, state_dir: Path
) -> None:
    mapper.allocate("TASK-a3f2", "github")
    mapping, counters = on_disk(state_dir)
    created = mapping["mappings"]["TASK-a3f2"]["created"]  # type: ignore[index]
    assert created.endswith("Z") and mapping["updated"] == counters["updated"]
    mapper.allocate("TASK-a3f2", "jira", "PROJ")
    mapping, _ = on_disk(state_dir)
    assert mapping["mappings"]["TASK-a3f2"]["created"] == created  # type: ignore[index]


def test_record_raises_counter_and_refuses_conflicts(
    mapper: ExternalIDMapper, state_dir: Path
) -> None:
    assert mapper.record("TASK-a3f2", "github", "#41") == "41"
    assert mapper.record("TASK-a3f2", "jira", "proj-9") == "PROJ-9"
    assert mapper.record("TASK-A3F2", "jira", "PROJ-9") == "PROJ-9"  # idempotent
    assert mapper.allocate("TASK-b3f2", "github") == "42"
    assert mapper.allocate("TASK-b3f2", "jira", "PROJ") == "PROJ-10"
    before = snapshot(state_dir)
    with pytest.raises(ConflictError, match="PROJ-9 is already held by TASK-a3f2"):
        mapper.record("TASK-c3f2", "jira", "PROJ-9")
    with pytest.raises(ConflictError, match="already has jira PROJ-9"):
        mapper.record("TASK-a3f2", "jira", "PROJ-99")
    assert snapshot(state_dir) == before
    mapper.record("TASK-c3f2", "github", "7")  # below the counter: kept, counter stays
    assert mapper.counters()["github"] == 43


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("TASK-x-y", "github"), "not an internal task ID"),
        (("TASK-a3f2", "trello"), "unknown tool"),
        (("TASK-a3f2", "jira"), "needs a project key"),
        (("TASK-a3f2", "jira", "1BAD"), "not a project key"),
        (("TASK-a3f2", "github", "PROJ"), "plain numbers"),
    ],
)
def test_bad_allocate_arguments(
    mapper: ExternalIDMapper, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(BadArgumentError, match=message) as info:
        mapper.allocate(*args)
    assert isinstance(info.value, ValueError) and info.value.exit_code == 2


@pytest.mark.parametrize(
    ("tool", "value"), [("github", "012"), ("jira", "PROJ"), ("github", "99999999999999999")]
)
def test_bad_record_arguments(mapper: ExternalIDMapper, tool: str, value: str) -> None:
    with pytest.raises(BadArgumentError):
        mapper.record("TASK-a3f2", tool, value)
    with pytest.raises(BadArgumentError):
        mapper.internal_id(tool, value)


def test_record_beyond_2_53_is_refused(mapper: ExternalIDMapper) -> None:
    with pytest.raises(BadArgumentError, match="2\\*\\*53"):
        mapper.record("TASK-a3f2", "github", str(2**53))


def test_reverse_lookup(state_dir: Path) -> None:
    write_state(state_dir)
    mapper = ExternalIDMapper(state_dir)
    assert mapper.internal_id("jira", "proj-456") == "TASK-E01-b2c4"
    assert mapper.internal_id("github", "#234") == "TASK-E01-b2c4"
    assert mapper.internal_id("azure_devops", "1234") == "TASK-E01-b2c4"
    assert mapper.internal_id("linear", "TEAM-789") == "TASK-E01-b2c4"
    assert mapper.internal_id("jira", "PROJ-455") is None
    assert mapper.external_ids("TASK-ffff") == {}
    assert mapper.entry("TASK-ffff") is None


def test_reads_see_other_writers(state_dir: Path) -> None:
    reader = ExternalIDMapper(state_dir)
    assert reader.internal_id("github", "1") is None
    ExternalIDMapper(state_dir).allocate("TASK-a3f2", "github")
    assert reader.internal_id("github", "1") == "TASK-a3f2"
    ExternalIDMapper(state_dir).remove("TASK-a3f2")
    assert reader.internal_id("github", "1") is None


def test_remove_one_tool_or_all_and_never_reissue(mapper: ExternalIDMapper) -> None:
    mapper.allocate("TASK-a3f2", "github")
    mapper.allocate("TASK-a3f2", "jira", "PROJ")
    assert mapper.remove("TASK-A3F2", "github") == {"github": "1"}
    assert mapper.external_ids("TASK-a3f2") == {"jira": "PROJ-1"}
    assert mapper.remove("TASK-a3f2", "github") == {}
    assert mapper.remove("TASK-a3f2") == {"jira": "PROJ-1"}
    assert mapper.mappings() == {}
    assert mapper.remove("TASK-a3f2") == {}
    assert mapper.allocate("TASK-b3f2", "github") == "2"
    assert mapper.allocate("TASK-b3f2", "jira", "PROJ") == "PROJ-2"


def test_removing_every_id_drops_the_whole_entry(state_dir: Path) -> None:
    write_state(state_dir)
    mapper = ExternalIDMapper(state_dir)
    removed = mapper.remove("TASK-E01-b2c4")
    assert set(removed) == {"azure_devops", "github", "jira", "linear"}
    assert mapper.mappings() == {}


def test_batch_is_one_transaction(mapper: ExternalIDMapper, state_dir: Path) -> None:
    mapper.allocate("TASK-0001", "github")
    inode = (state_dir / MAPPING_FILE).stat().st_ino
    with mapper.batch() as b:
        ids = [b.allocate(f"TASK-{i:04x}", "github") for i in range(2, 12)]
        b.record("TASK-0002", "jira", "PROJ-5")
        assert b.internal_id("jira", "proj-5") == "TASK-0002"
        assert b.external_ids("TASK-0002") == {"github": "2", "jira": "PROJ-5"}
        assert b.remove("TASK-0003", "github") == {"github": "3"}
        assert (state_dir / MAPPING_FILE).stat().st_ino == inode  # nothing written yet
    assert ids == [str(n) for n in range(2, 12)]
    # One write: the backup is the version from before the batch.
    bak = json.loads((state_dir / (MAPPING_FILE + ".bak")).read_text())
    assert list(bak["mappings"]) == ["TASK-0001"]
    assert mapper.internal_id("github", "3") is None


def test_failed_batch_saves_nothing(mapper: ExternalIDMapper, state_dir: Path) -> None:
    mapper.allocate("TASK-0001", "github")
    before = snapshot(state_dir)
    with pytest.raises(ConflictError), mapper.batch() as b:
        b.allocate("TASK-0002", "github")
        b.record("TASK-0003", "github", "1")
    assert snapshot(state_dir) == before


def test_hand_edited_counter_below_used_never_reissues(state_dir: Path) -> None:
    counters = {
        "counters": {"azure_devops": 1, "github": 1, "jira": {"PROJ": 1}, "linear": {}},
        "updated": "2025-01-08T10:30:00Z",
        "version": "1.0",
    }
    write_state(state_dir, MAPPING, counters)
    mapper = ExternalIDMapper(state_dir)
    assert mapper.allocate("TASK-a3f2", "jira", "PROJ") == "PROJ-457"
    assert mapper.allocate("TASK-a3f2", "github") == "235"


def test_guardkit_fixture_next_proj_is_2(state_dir: Path) -> None:
    state_dir.mkdir()
    for name in (MAPPING_FILE, COUNTERS_FILE):
        shutil.copyfile(GUARDKIT / name, state_dir / name)
    mapper = ExternalIDMapper(state_dir)
    assert mapper.external_ids("TASK-E01-b2c4") == {"jira": "PROJ-1"}
    assert mapper.allocate("TASK-E01-b2c4", "jira", "PROJ") == "PROJ-1"
    assert mapper.allocate("TASK-a3f2", "jira", "PROJ") == "PROJ-2"
    with pytest.raises(ConflictError):
        mapper.record("TASK-b3f2", "jira", "PROJ-1")
    mapping, counters = on_disk(state_dir)
    assert mapping["version"] == counters["version"] == "1.0"
    assert counters["counters"]["jira"] == {"PROJ": 3}  # type: ignore[index]


def test_guardkit_fixture_is_the_shared_one() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "guardkit-v1.0"
    if not shared.is_dir():
        pytest.skip("../shared is not beside this checkout")
    for name in (MAPPING_FILE, COUNTERS_FILE):
        assert (GUARDKIT / name).read_bytes() == (shared / name).read_bytes()


def test_mapper_accepts_store_or_dir_and_has_no_singleton(state_dir: Path) -> None:
    a, b = ExternalIDMapper(state_dir), ExternalIDMapper(Store(state_dir))
    assert a is not b and a.store.state_dir == b.store.state_dir
    assert not hasattr(extid.mapper, "get_mapper")
    assert not hasattr(ExternalIDMapper, "reset_counters")
    assert "ExternalIDMapper" in repr(a)


def test_exhausted_counter_is_an_error(state_dir: Path) -> None:
    counters = {
        "counters": {"azure_devops": 0, "github": 2**53, "jira": {}, "linear": {}},
        "updated": "2025-01-08T10:30:00Z",
        "version": "1.0",
    }
    write_state(
        state_dir, {"mappings": {}, "updated": MAPPING["updated"], "version": "1.0"}, counters
    )
    with pytest.raises(ExtidError, match="exhausted"):
        ExternalIDMapper(state_dir).allocate("TASK-a3f2", "github")
