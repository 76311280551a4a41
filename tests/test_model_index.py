"""model.Index: the lookups the store keeps in step with each change; filled on a load by the
validation pass (validate.check_document(index=...)), which must index as `add` does."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from extid import model
from extid.validate import check_document

KEYS = st.sampled_from(["TASK-0001", "task-0001", "TASK-E01-b2c4", "TASK-E01-B2C4", "DOC-0a1f"])
VALUES = st.sampled_from(["PROJ-1", "PROJ-7", "TEAM-2", "12", "7", "007", "PROJ-0", "x", 5, None])
ENTRIES = st.one_of(
    st.dictionaries(st.sampled_from(["jira", "linear", "github", "azure_devops", "epic"]), VALUES),
    st.just("not an object"),
)


def stepwise(mappings: dict[str, Any]) -> tuple[model.Index, list[model.Clash]]:
    index = model.Index()
    return index, [clash for key, entry in mappings.items() for clash in index.add(key, entry)]


def document(mappings: dict[str, Any]) -> dict[str, Any]:
    return {"mappings": mappings, "updated": "2026-01-01T00:00:00Z", "version": "1.0"}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, ENTRIES, max_size=5))
def test_the_validation_pass_indexes_as_add_in_turn(mappings: dict[str, Any]) -> None:
    index, clashes = stepwise(mappings)
    assert index.high == model.highest_used(mappings)
    filled = model.Index()
    problems = check_document(document(mappings), "mapping", "m.json", index=filled)
    assert (filled.folded, filled.holders, filled.high) == (index.folded, index.holders, index.high)
    semantic = [
        p for p in problems if "also held by" in p.message or "differ only in case" in p.message
    ]
    assert len(semantic) == len(clashes)


def test_discard_then_add_moves_an_entry() -> None:
    index, _ = stepwise({"TASK-0001": {"jira": "PROJ-3"}, "TASK-0002": {"github": "4"}})
    index.discard("TASK-0001", {"jira": "PROJ-3"})
    assert index.add("TASK-0003", {"jira": "PROJ-3"}) == []
    assert index.holders == {("jira", "PROJ-3"): "TASK-0003", ("github", "4"): "TASK-0002"}
    assert index.add("TASK-0004", {"github": "4"}) == [
        model.Clash("TASK-0004", "github", "4", "TASK-0002")
    ]
    assert index.high == {("jira", "PROJ"): 3, ("github", None): 4}  # never lowered


def test_the_validation_pass_fills_the_index_of_a_clean_registry() -> None:
    mappings: dict[str, Any] = {
        f"TASK-E{n % 3:02d}-{n:04x}": {"jira": f"PROJ-{n + 1}", "github": str(2 * n + 1)}
        for n in range(50)
    }
    mappings["TASK-a3f2"] = {"linear": "TEAM-9", "created": "2026-01-01T00:00:00Z"}
    filled = model.Index()
    assert check_document(document(mappings), "mapping", "m.json", index=filled) == []
    index, clashes = stepwise(mappings)
    assert clashes == []
    assert (filled.folded, filled.holders, filled.high) == (index.folded, index.holders, index.high)
