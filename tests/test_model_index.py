"""model.Index: the lookups the store keeps in step with each change, built in one pass."""

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


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, ENTRIES, max_size=5))
def test_build_is_add_in_turn_and_agrees_with_the_full_rules(mappings: dict[str, Any]) -> None:
    built, clashes = model.Index.build(mappings)
    stepwise = model.Index()
    added = [clash for key, entry in mappings.items() for clash in stepwise.add(key, entry)]
    assert (built.folded, built.holders, built.high) == (
        stepwise.folded,
        stepwise.holders,
        stepwise.high,
    )
    assert sorted(clashes, key=repr) == sorted(added, key=repr)  # order within an entry aside
    assert built.high == model.highest_used(mappings)
    doc = {"mappings": mappings, "updated": "2026-01-01T00:00:00Z", "version": "1.0"}
    semantic = [
        p
        for p in check_document(doc, "mapping", "m.json")
        if "also held by" in p.message or "differ only in case" in p.message
    ]
    assert len(semantic) == len(clashes)
    filled = model.Index()
    if not check_document(doc, "mapping", "m.json", index=filled):  # what the store's load uses
        assert (filled.folded, filled.holders, filled.high) == (
            built.folded,
            built.holders,
            built.high,
        )


def test_discard_then_add_moves_an_entry() -> None:
    index, _ = model.Index.build({"TASK-0001": {"jira": "PROJ-3"}, "TASK-0002": {"github": "4"}})
    index.discard("TASK-0001", {"jira": "PROJ-3"})
    assert index.add("TASK-0003", {"jira": "PROJ-3"}) == []
    assert index.holders == {("jira", "PROJ-3"): "TASK-0003", ("github", "4"): "TASK-0002"}
    assert index.add("TASK-0004", {"github": "4"}) == [
        model.Clash("TASK-0004", "github", "4", "TASK-0002")
    ]
    assert index.high == {("jira", "PROJ"): 3, ("github", None): 4}  # never lowered


def test_the_validation_pass_fills_the_same_index_as_build() -> None:
    mappings: dict[str, Any] = {
        f"TASK-E{n % 3:02d}-{n:04x}": {"jira": f"PROJ-{n + 1}", "github": str(2 * n + 1)}
        for n in range(50)
    }
    mappings["TASK-a3f2"] = {"linear": "TEAM-9", "created": "2026-01-01T00:00:00Z"}
    doc = {"mappings": mappings, "updated": "2026-01-01T00:00:00Z", "version": "1.0"}
    filled = model.Index()
    assert check_document(doc, "mapping", "m.json", index=filled) == []
    built, clashes = model.Index.build(mappings)
    assert clashes == []
    assert (filled.folded, filled.holders, filled.high) == (built.folded, built.holders, built.high)
