"""extid check finds the pair's highest used numbers in its validation pass (one pass over the
mappings instead of two): the same numbers as model.highest_used, the same problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from extid import checkfiles, model, validate
from extid.document import COUNTERS_FILE, MAPPING, MAPPING_FILE

_ids = st.sampled_from(["TASK-ab12", "TASK-AB12", "EPIC-0001", "FEAT-x9-beef.2", "TASK-x-y"])
_values = st.one_of(
    st.from_regex(r"\A[A-Z][A-Z0-9_]{0,2}-[1-9][0-9]{0,3}\Z"),
    st.from_regex(r"\A[1-9][0-9]{0,4}\Z"),
    st.sampled_from(["PROJ-0", "0", "01", "", "proj-1", "EPIC-001", "2025-01-08T10:00:00Z"]),
    st.integers(-2, 2),
    st.none(),
)
_fields = st.sampled_from(["jira", "linear", "azure_devops", "github", "created", "epic", "x"])
_entry = st.one_of(st.dictionaries(_fields, _values, max_size=5), st.just([]), st.just("x"))
_mappings = st.dictionaries(_ids, _entry, max_size=5)


@settings(max_examples=300, deadline=None)
@given(_mappings, st.sampled_from(["1.0", "2.0", None]))
def test_high_of_the_validation_pass_is_highest_used(mappings: Any, version: Any) -> None:
    doc = {"mappings": mappings, "updated": "2025-01-08T10:30:00Z", "version": version}
    high: dict[Any, int] = {}
    problems = validate.check_document(doc, MAPPING, "m.json", high=high)
    assert high == model.highest_used(mappings)
    assert problems == validate.check_document(doc, MAPPING, "m.json")


@settings(max_examples=100, deadline=None)
@given(_mappings, st.integers(0, 3))
def test_check_paths_reports_the_pair_as_check_pair_does(
    tmp_path_factory: Any, mappings: Any, counter: int
) -> None:
    directory: Path = tmp_path_factory.mktemp("state")
    doc = {"mappings": mappings, "updated": "2025-01-08T10:30:00Z", "version": "1.0"}
    counters = {
        "counters": {"azure_devops": counter, "jira": {"A": counter, "PROJ": counter}},
        "updated": "2025-01-08T10:30:00Z",
        "version": "1.0",
    }
    m_path, c_path = str(directory / MAPPING_FILE), str(directory / COUNTERS_FILE)
    Path(m_path).write_text(json.dumps(doc))
    Path(c_path).write_text(json.dumps(counters))
    expected = validate.check_document(doc, MAPPING, m_path)
    expected += validate.check_document(counters, "counters", c_path)
    expected += validate.check_pair(doc, counters, m_path, c_path)
    assert checkfiles.check_paths([m_path, c_path]) == expected
