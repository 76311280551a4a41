"""extid.merge.render: each conflict as the smallest marked region, each side valid JSON when
chosen, at any output version."""

from __future__ import annotations

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
