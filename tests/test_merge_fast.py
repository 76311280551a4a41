"""extid.merge.fast (with chunks): the byte-level merge of big canonical files gives the same
answer as the document merge, or none."""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from merge_helpers import T0, T1, T2, mapping_sets, mdoc, no_collisions
from test_benchmarks_smoke import _load

from extid.document import canonical
from extid.merge import Conflict, chunks, fast, fast_merge_mapping, merge


def test_fast_path_applies_to_canonical_files_and_agrees() -> None:
    base = mdoc({f"TASK-{n:04X}": {"jira": f"P-{n}", "created": T0} for n in range(1, 300)})
    ours = copy.deepcopy(base)
    theirs = copy.deepcopy(base)
    ours["mappings"]["TASK-A000"] = {"jira": "P-900"}
    ours["mappings"]["TASK-0005"]["github"] = "5"
    del ours["mappings"]["TASK-0007"]
    theirs["mappings"]["TASK-B000"] = {"linear": "T-1"}
    theirs["mappings"]["TASK-0006"]["github"] = "6"
    theirs["updated"] = T2
    fast = fast_merge_mapping(canonical(base), canonical(ours), canonical(theirs))
    assert fast is not None and fast.clean
    assert fast.data == merge(base, ours, theirs, "mapping").render()
    # swapped sides: the same bytes
    swapped = fast_merge_mapping(canonical(base), canonical(theirs), canonical(ours))
    assert swapped is not None and swapped.data == fast.data


def test_fast_path_declines_what_it_cannot_prove() -> None:
    base = mdoc({f"TASK-{n:04X}": {"jira": f"P-{n}"} for n in range(1, 5)})
    ours = copy.deepcopy(base)
    ours["mappings"]["TASK-A000"] = {"jira": "P-900"}
    theirs = copy.deepcopy(base)
    theirs["mappings"]["TASK-0004"] = {"jira": "P-44"}
    b, o, t = canonical(base), canonical(ours), canonical(theirs)
    assert fast_merge_mapping(b, o, t) is not None
    assert fast_merge_mapping(b, o, t.replace(b'"P-44"', b'"P-44",')) is None  # broken JSON
    assert fast_merge_mapping(b, o, t + b" ") is None  # not canonical


def test_fast_path_renders_deletions_against_changes_like_the_document_merge() -> None:
    """A deletion against a change is a region over a whole entry; neighbours form one region,
    and one at the end of the mappings takes the line before in (see render._region). The
    bytes merge used to decline them all: 10k of them took the document merge 6 s."""
    base = mdoc({f"TASK-{n:04X}": {"jira": f"P-{n}"} for n in range(1, 9)})
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    for key in ("TASK-0001", "TASK-0004", "TASK-0005", "TASK-0008"):  # first, a pair, last
        del ours["mappings"][key]
        theirs["mappings"][key]["github"] = key[-1]
    del theirs["mappings"]["TASK-0006"]  # and the other way round
    ours["mappings"]["TASK-0006"]["epic"] = "EPIC-001"
    for docs in ((base, ours, theirs), (base, theirs, ours)):
        fast = fast_merge_mapping(*(canonical(d) for d in docs))
        slow = merge(*docs, "mapping")
        assert fast is not None and len(fast.conflicts) == 5
        assert fast.data == slow.render()
        assert [c.message for c in fast.conflicts] == [c.message for c in slow.conflicts]


def test_fast_path_renders_field_conflicts_like_the_document_merge() -> None:
    base = mdoc({f"TASK-{n:04X}": {"jira": f"P-{n}"} for n in range(1, 5)})
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["mappings"]["TASK-0002"]["jira"] = "P-20"  # a field conflict
    theirs["mappings"]["TASK-0002"]["jira"] = "P-21"
    ours["mappings"]["TASK-0003"]["github"] = "7"  # and a clean change on each side
    theirs["mappings"]["TASK-0004"]["github"] = "8"
    fast = fast_merge_mapping(*(canonical(d) for d in (base, ours, theirs)))
    slow = merge(base, ours, theirs, "mapping")
    assert fast is not None and len(fast.conflicts) == 1
    assert fast.data == slow.render()
    assert [c.message for c in fast.conflicts] == [c.message for c in slow.conflicts]
    # A collision is shown as both tasks whole, one region in place of the first task: the
    # bytes merge renders it as the document merge does (it used to decline it).
    ours["mappings"]["TASK-A000"] = {"created": T1, "jira": "P-900"}
    theirs["mappings"]["TASK-B000"] = {"created": T2, "jira": "P-900"}
    fast = fast_merge_mapping(*(canonical(d) for d in (base, ours, theirs)))
    slow = merge(base, ours, theirs, "mapping")
    assert fast is not None and [c.collision for c in fast.conflicts] == [False, True]
    assert fast.data == slow.render()
    assert [c.message for c in fast.conflicts] == [c.message for c in slow.conflicts]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mapping_sets, mapping_sets, mapping_sets)
def test_fast_path_equals_the_document_merge(
    b: dict[str, Any], o: dict[str, Any], t: dict[str, Any]
) -> None:
    b, o, t = no_collisions(b), no_collisions(o), no_collisions(t)
    docs = [mdoc(b), mdoc(o, T1), mdoc(t, T2)]
    fast = fast_merge_mapping(*(canonical(d) for d in docs))
    slow = merge(*docs, "mapping")
    if fast is not None:
        assert fast.data == slow.render()
        assert sorted(c.path for c in fast.conflicts) == sorted(c.path for c in slow.conflicts)
    elif slow.clean and slow.doc["mappings"] and o and t:
        # declining is only for conflicts, collisions and empty objects, never a clean merge
        # of non-empty sides
        raise AssertionError("the fast path declined a clean merge")


# --- cost follows the changes: counted, not timed --------------------------------------------


class CountingList(list[Conflict]):
    """A conflicts list that counts the conflicts each full pass over it visits."""

    visits = 0

    def __iter__(self) -> Iterator[Conflict]:
        for c in super().__iter__():
            CountingList.visits += 1
            yield c


class CountingCtx(fast.Ctx):
    def __init__(self, on_conflict: Any) -> None:
        super().__init__(on_conflict)
        self.conflicts = CountingList()


def bulk_epic_change(n: int) -> list[bytes]:
    """Both sides set `epic` on all n entries; a third of them differently (field conflicts)."""
    base = mdoc({f"TASK-{i:04X}": {"created": T0, "jira": f"P-{i}"} for i in range(1, n + 1)})
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    for i, entry in enumerate(ours["mappings"].values()):
        entry["epic"] = f"EPIC-{100 + i % 50}"
    for i, entry in enumerate(theirs["mappings"].values()):
        entry["epic"] = f"EPIC-{(100 if i % 3 else 200) + i % 50}"
    return [canonical(d) for d in (base, ours, theirs)]


@pytest.mark.parametrize("n", [300, 1200])
def test_a_conflict_heavy_merge_visits_each_conflict_a_few_times(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each changed entry used to rescan every conflict found so far, and each conflicted entry
    to rescan them all again for its own: quadratic (118 s at 32k entries). Now each conflict
    is visited a bounded number of times, whatever n."""
    monkeypatch.setattr(fast, "Ctx", CountingCtx)
    monkeypatch.setattr(CountingList, "visits", 0)
    result = fast_merge_mapping(*bulk_epic_change(n))
    assert result is not None and len(result.conflicts) == n // 3
    assert all(c.path[2] == "epic" for c in result.conflicts)
    assert CountingList.visits <= 3 * len(result.conflicts)


@pytest.mark.parametrize("shape", ["fields", "deletes", "collide"])
def test_conflict_heavy_files_merge_on_bytes_as_the_documents_do(shape: str) -> None:
    """The benchmark's conflict-heavy shapes (a field conflict in every 15th entry, a deletion
    against a change in every 10th, 1% new tasks per side nearly all colliding): the bytes
    merge gives the document merge's bytes, and its conflicts in the same order."""
    gen = _load("generate")
    fixtures = (
        gen.merge_fixtures(3000, 30, collide=True)
        if shape == "collide"
        else gen.edit_fixtures(3000, shape)
    )
    docs = [mapping for mapping, _ in fixtures.values()]
    fast = fast_merge_mapping(*(canonical(d) for d in docs))
    slow = merge(*copy.deepcopy(docs), "mapping")
    assert fast is not None and len(fast.conflicts) >= 25
    assert fast.data == slow.render()
    assert [c.message for c in fast.conflicts] == [c.message for c in slow.conflicts]


class Counter:
    def __init__(self, function: Any) -> None:
        self.function, self.calls = function, 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.function(*args)


def test_many_conflicts_are_parsed_and_rendered_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each conflicted entry used to be parsed by the stdlib on its own (both sides and base)
    and rendered alone through a canonical dump: ~1.5 ms each. The changed entries of a side,
    and base's, are now parsed in one orjson call each, and the conflicts marked in one pass
    over the merged text."""
    render = sys.modules["extid.merge.render"]  # the package exports the function by that name
    parse_chunk, dump = Counter(chunks.parse_chunk), Counter(render.canonical)
    monkeypatch.setattr(chunks, "parse_chunk", parse_chunk)
    monkeypatch.setattr(render, "canonical", dump)
    result = fast_merge_mapping(*bulk_epic_change(1200))
    assert result is not None and len(result.conflicts) == 400
    assert (parse_chunk.calls, dump.calls) == (0, 0)


def test_a_batch_with_a_duplicate_key_is_refused_as_one_chunk_is() -> None:
    """The batch parse keeps orjson's answer only when it dumps back to the same bytes: a
    duplicate key (which orjson would silently collapse) falls back to the strict parse, which
    refuses it, and the document merge then names the problem."""
    b, o, t = bulk_epic_change(300)
    dup = t.replace(b'"epic": "EPIC-200",', b'"epic": "EPIC-200",\n      "epic": "EPIC-201",', 1)
    assert dup != t
    assert fast_merge_mapping(b, o, t) is not None
    assert fast_merge_mapping(b, o, dup) is None


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(0, 5000)), st.sets(st.integers(0, 5000)), st.integers(0, 5000))
def test_differences_are_the_chunks_only_on_one_side(
    dropped: set[int], added: set[int], size: int
) -> None:
    """Blocks that grow while the sides run equal and shrink near a difference find exactly
    the set differences, wherever the differences fall."""
    common = [n for n in range(size) if n not in dropped]
    a = sorted(b"%05d" % n for n in common)
    b = sorted({*a, *(b"%05d" % n for n in added)} - {b"%05d" % n for n in range(0, size, 7)})
    in_a, in_b = set(a), set(b)
    assert chunks.differences(a, b) == (
        [x for x in a if x not in in_b],
        [y for y in b if y not in in_a],
    )


def test_a_clean_merge_never_decodes_the_whole_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The merged text used to be checked by parsing it whole: the registry as Python objects,
    ~6x its text, was most of a clean merge's peak memory (13x the file at 700k entries).
    It is checked a slice of entries at a time."""
    import orjson

    docs = [m for m, _ in _load("generate").merge_fixtures(8000, 80, collide=False).values()]
    files = [canonical(d) for d in docs]
    seen: list[int] = []
    loads = orjson.loads
    monkeypatch.setattr(orjson, "loads", lambda data: seen.append(len(data)) or loads(data))
    result = fast_merge_mapping(*files)
    assert result is not None and result.clean
    assert result.data == merge(*docs, "mapping").render()
    assert seen and max(seen) < len(files[1]) // 3


def test_a_changed_entry_nested_too_deep_is_left_to_the_document_merge() -> None:
    """The strict parse of one chunk let the stdlib's RecursionError through: the driver
    stopped with a traceback instead of letting the document parse name the nesting."""
    base = canonical(mdoc({"TASK-0001": {"jira": "P-1"}}))
    deep = b',\n    "TASK-0002": ' + b"[" * 100_000 + b"]" * 100_000 + b'\n  },\n  "updated"'
    ours = base.replace(b'\n  },\n  "updated"', deep)
    assert fast_merge_mapping(base, ours, base) is None
