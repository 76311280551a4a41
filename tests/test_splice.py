"""extid.entries: editing a few entries of canonical bytes (splice_mappings) gives the canonical
bytes of the edited document, exactly (the store writes what it returns); comparing two versions
(diff_entries) finds exactly what changed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extid.document import canonical
from extid.entries import diff_entries, splice_mappings

HASH = st.text("0123456789abcdef", min_size=4, max_size=4)
SUBS = st.sampled_from(["", "E01-", "E02-", "X9-"])
KEYS = st.builds(lambda sub, h: f"TASK-{sub}{h}", SUBS, HASH)
VALUES = {
    "created": st.just("2026-01-02T03:04:05Z"),
    "epic": st.just("EPIC-001"),
    "jira": st.integers(1, 10**6).map(lambda n: f"PROJ-{n}"),
    "linear": st.integers(1, 999).map(lambda n: f"TEAM-{n}"),
    "github": st.integers(1, 10**6).map(str),
    "azure_devops": st.integers(1, 10**6).map(str),
}
ENTRIES = st.fixed_dictionaries({}, optional=VALUES)  # `{}` included: the schema allows it
MAPPINGS = st.dictionaries(KEYS, ENTRIES, max_size=60)


def document(mappings: dict[str, Any], updated: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"mappings": mappings, "updated": updated, "version": "1.0"}


@settings(max_examples=400, deadline=None)
@given(
    MAPPINGS,
    st.lists(st.tuples(KEYS, st.one_of(st.none(), ENTRIES)), max_size=6),
    st.lists(KEYS, max_size=2),
)
def test_splice_equals_the_canonical_dump(
    before: dict[str, Any], edits: list[tuple[str, Any]], untouched: list[str]
) -> None:
    after = dict(before)
    for key, entry in edits:  # None deletes
        if entry is None:
            after.pop(key, None)
        else:
            after[key] = entry
    keys = [key for key, _ in edits] + untouched  # naming an unchanged key is allowed
    old = canonical(document(before))
    new = document(after, "2026-11-26T10:00:00Z")
    got = splice_mappings(old, new, keys)
    if not before or not after:
        assert got is None  # `{}` has no entries to splice between: the caller dumps
    else:
        assert got == canonical(new)


def test_splice_on_a_large_file_inserts_first_middle_and_last() -> None:
    before = {f"TASK-E01-{n:04x}": {"jira": f"PROJ-{n + 1}"} for n in range(0, 4000, 2)}
    old = canonical(document(before))
    assert len(old) > 64 * 1024  # the binary search, not only the walk
    for key in ("TASK-E01-0001", "TASK-E01-07cf", "TASK-E01-ffff", "TASK-E00-0000"):
        after = {**before, key: {"github": "7"}}
        assert splice_mappings(old, document(after), [key]) == canonical(document(after))
    gone = dict(before)
    del gone["TASK-E01-0000"], gone["TASK-E01-0f9e"]
    assert splice_mappings(old, document(gone), ["TASK-E01-0000", "TASK-E01-0f9e"]) == canonical(
        document(gone)
    )


@pytest.mark.parametrize(
    "old",
    [
        b'{\n  "mappings": {},\n  "updated": "2026-01-01T00:00:00Z",\n  "version": "1.0"\n}\n',
        b'{"mappings": {"TASK-0001": {}}, "updated": "2026-01-01T00:00:00Z", "version": "1.0"}',
        b"[]\n",
    ],
)
def test_splice_declines_what_it_cannot_edit(old: bytes) -> None:
    new = document({"TASK-0001": {"github": "1"}})
    assert splice_mappings(old, new, ["TASK-0001"]) is None


def test_splice_declines_keys_that_need_escapes() -> None:
    before = {"TASK-0001": {"github": "1"}}
    old = canonical(document(before))
    for key in ('TASK-"0002', "TASK-\u00e90002", "TASK-\\0002"):
        assert splice_mappings(old, document({**before, key: {}}), [key]) is None
    assert json.loads(old)  # untouched input


@settings(max_examples=300, deadline=None)
@given(MAPPINGS, MAPPINGS)
def test_diff_entries_finds_exactly_what_changed(
    before: dict[str, Any], other: dict[str, Any]
) -> None:
    after = {**before, **other}
    for key in list(before)[::3]:
        after.pop(key, None)
    old, new = canonical(document(before)), canonical(document(after, "2026-11-26T10:00:00Z"))
    diff = diff_entries(old, new, before)
    if not before or not after:
        assert diff is None  # `{}` has no entries to compare
        return
    assert diff is not None
    assert diff.changed == {k: v for k, v in after.items() if before.get(k) != v}
    assert diff.removed == set(before) - set(after)
    assert diff.rest == {"updated": "2026-11-26T10:00:00Z", "version": "1.0"}


def test_diff_entries_declines_what_is_not_canonical() -> None:
    before = {f"TASK-{n:04x}": {"github": str(n + 1)} for n in range(5)}
    old = canonical(document(before))
    reindented = old.replace(b'\n      "github": "3"', b'\n        "github": "3"')
    twice = old.replace(b'    "TASK-0002"', b'    "TASK-0001"')  # a key twice, still in order
    unsorted = old.replace(b'"TASK-0001"', b'"TASK-0009"')
    tail = old.replace(b'"version": "1.0"', b'"version":  "1.0"')
    for new in (reindented, twice, unsorted, tail, b"{}", old[:-3]):
        assert diff_entries(old, new, before) is None, new
