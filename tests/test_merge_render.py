"""extid.merge.render: each conflict as the smallest marked region, each side valid JSON when
chosen, at any output version."""

from __future__ import annotations

import copy
import sys
from typing import Any

import pytest
from merge_helpers import T0, T1, T2, both_ways, mdoc, pick

from extid.merge import merge


def test_same_field_changed_differently_is_a_conflict_in_the_smallest_region() -> None:
    base = mdoc({"TASK-AAAA": {"created": T0, "jira": "P-1"}, "TASK-BBBB": {"jira": "P-2"}})
    ours = mdoc({"TASK-AAAA": {"created": T0, "jira": "P-7"}, "TASK-BBBB": {"jira": "P-2"}})
    theirs = mdoc({"TASK-AAAA": {"created": T0, "jira": "P-8"}, "TASK-BBBB": {"jira": "P-2"}})
    r = both_ways(base, ours, theirs)
    assert [c.path for c in r.conflicts] == [("mappings", "TASK-AAAA", "jira")]
    assert "P-7" in r.conflicts[0].message and "P-8" in r.conflicts[0].message
    text = r.render()
    assert text.count(b"<<<<<<< ours") == 1
    region = text.split(b"<<<<<<< ours\n")[1].split(b">>>>>>> theirs")[0]
    assert region == b'      "jira": "P-7"\n=======\n      "jira": "P-8"\n'
    assert pick(text, "ours")["mappings"]["TASK-AAAA"]["jira"] == "P-7"
    assert pick(text, "theirs")["mappings"]["TASK-AAAA"]["jira"] == "P-8"
    assert pick(text, "ours")["mappings"]["TASK-BBBB"] == {"jira": "P-2"}


def test_an_empty_side_at_the_end_of_an_object_keeps_both_sides_valid() -> None:
    base = mdoc({"TASK-AAAA": {"jira": "P-1"}, "TASK-FFFF": {"jira": "P-2"}})
    ours = mdoc({"TASK-AAAA": {"jira": "P-1"}, "TASK-FFFF": {"jira": "P-3"}})
    theirs = mdoc({"TASK-AAAA": {"jira": "P-1"}})
    r = merge(base, ours, theirs, "mapping")
    text = r.render()
    assert pick(text, "ours")["mappings"] == {
        "TASK-AAAA": {"jira": "P-1"},
        "TASK-FFFF": {"jira": "P-3"},
    }
    assert pick(text, "theirs")["mappings"] == {"TASK-AAAA": {"jira": "P-1"}}


def test_unversioned_output_keeps_markers() -> None:
    r = merge(
        None, mdoc({"TASK-AAAA": {"jira": "P-1"}}), mdoc({"TASK-AAAA": {"jira": "P-2"}}), "mapping"
    )
    text = r.render("0")
    assert pick(text, "theirs") == {"TASK-AAAA": {"jira": "P-2"}}


def test_a_collision_is_one_region_with_both_tasks_whole_at_any_version() -> None:
    base = mdoc({"TASK-AAAA": {"created": T0, "jira": "P-1"}})
    ours = mdoc({**base["mappings"], "TASK-CCCC": {"created": T2, "jira": "P-2"}})
    theirs = mdoc({**base["mappings"], "TASK-BBBB": {"created": T1, "jira": "P-2", "github": "5"}})
    r = merge(base, ours, theirs, "mapping")
    for version in ("1.0", "0"):
        text = r.render(version)
        assert text.count(b"<<<<<<< ours\n") == 1
        region = text.split(b"<<<<<<< ours\n")[1].split(b">>>>>>> theirs")[0]
        assert region.count(b'"TASK-BBBB": {') == 2 and region.count(b'"TASK-CCCC": {') == 2
        mine, other = (pick(text, side) for side in ("ours", "theirs"))
        if version == "1.0":
            mine, other = mine["mappings"], other["mappings"]
        assert mine["TASK-CCCC"]["jira"] == "P-2" and "jira" not in mine["TASK-BBBB"]
        assert other["TASK-BBBB"] == {"created": T1, "jira": "P-2", "github": "5"}
        assert other["TASK-CCCC"] == {"created": T2}


class _Copies(type):
    """Stands in for `dict` in extid.merge.render: counts the copies of the mappings (any
    dict of over 40 entries) and makes them as dict does."""

    big = 0

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, dict)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], dict) and len(args[0]) > 40:
            _Copies.big += 1
        return dict(*args, **kwargs)


class CountingDict(metaclass=_Copies):
    pass


def test_many_collisions_copy_the_mappings_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each collision shown whole used to copy all the mappings to take its second task out:
    one copy of a 100k-entry dict per collision (quadratic in a collision-heavy merge)."""
    base = mdoc({f"TASK-{n:04X}": {"jira": f"P-{n}"} for n in range(1, 50)})
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    for n in range(60, 80):  # twenty pairs of new tasks, each pair given one number
        ours["mappings"][f"TASK-A{n:03X}"] = {"created": T1, "jira": f"P-{n}"}
        theirs["mappings"][f"TASK-B{n:03X}"] = {"created": T2, "jira": f"P-{n}"}
    result = merge(base, ours, theirs, "mapping")
    assert len([c for c in result.conflicts if c.collision]) == 20
    expected = result.render()
    monkeypatch.setattr(_Copies, "big", 0)
    monkeypatch.setattr(sys.modules["extid.merge.render"], "dict", CountingDict, raising=False)
    assert result.render() == expected
    assert _Copies.big == 1
