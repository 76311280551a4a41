"""The fast validator against the shipped schemas, message by message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from extid import document, validate
from extid.schemas import schema
from extid.validate import SETTLE

MAPPING = {
    "mappings": {
        "TASK-E01-b2c4": {
            "azure_devops": "1234",
            "created": "2025-01-08T10:00:00Z",
            "epic": "EPIC-001",
            "github": "234",
            "jira": "PROJ-456",
            "linear": "TEAM-789",
        }
    },
    "updated": "2025-01-08T10:30:00Z",
    "version": "1.0",
}
COUNTERS = {
    "counters": {
        "azure_devops": 1235,
        "github": 235,
        "jira": {"PROJ": 457, "TEST": 12},
        "linear": {"TEAM": 790},
    },
    "updated": "2025-01-08T10:30:00Z",
    "version": "1.0",
}


def messages(obj: Any, kind: document.Kind) -> list[str]:
    return [f"{p.where}: {p.message}" for p in validate.check_document(obj, kind, "f.json")]


def test_issue_examples_are_valid() -> None:
    assert messages(MAPPING, "mapping") == []
    assert messages(COUNTERS, "counters") == []
    assert validate.check_pair(MAPPING, COUNTERS, "m", "c") == []


@pytest.mark.parametrize("schema_kind", ["mapping", "counters"])
def test_shipped_schemas_are_valid_draft_2020_12(schema_kind: str) -> None:
    Draft202012Validator.check_schema(schema(schema_kind))


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("jira", "PROJ-0456", '$.mappings.TASK-E01-b2c4.jira: "PROJ-0456" is not a jira ID'),
        ("jira", "proj-456", "is not a jira ID"),
        ("linear", "TEAM_TOO_LONG_KEY_XXXXXXXXX-1", "is not a linear ID"),
        ("github", "#234", '$.mappings.TASK-E01-b2c4.github: "#234" is not a positive integer'),
        ("azure_devops", 1234, "1234 is not a positive integer"),
        ("created", "2025-01-08T10:00:00+01:00", "is not an RFC 3339 UTC time"),
        ("epic", "EPIC-1", "is not an epic reference"),
        ("jirra", "PROJ-1", "$.mappings.TASK-E01-b2c4.jirra: unknown field (typo?)"),
    ],
)
def test_bad_entry_fields(field: str, value: Any, expected: str) -> None:
    doc = json.loads(json.dumps(MAPPING))
    doc["mappings"]["TASK-E01-b2c4"][field] = value
    found = messages(doc, "mapping")
    assert any(expected in m for m in found), found


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "counter must be an integer, got true"),
        (457.0, "counter must be an integer, got 457.0"),
        (-1, "counter -1 is negative"),
        (10**30, "counter 1000000000000000000000000000000 is above 2**53"),
        ("457", 'counter must be an integer, got "457"'),
    ],
)
def test_bad_counters(value: Any, expected: str) -> None:
    doc = json.loads(json.dumps(COUNTERS))
    doc["counters"]["jira"]["PROJ"] = value
    assert messages(doc, "counters") == [f"$.counters.jira.PROJ: {expected}"]


def test_unknown_tool_and_envelope_problems() -> None:
    doc = {
        **COUNTERS,
        "counters": {**COUNTERS["counters"], "gitlab": 3},
        "extra": 1,
        "updated": "yesterday",
    }
    assert messages(doc, "counters") == [
        "$.extra: unknown top-level field",
        '$.updated: must be an RFC 3339 time, got "yesterday"',
        "$.counters.gitlab: unknown tool (expected one of azure_devops, github, jira, linear)",
    ]


def test_semantics_duplicate_external_and_case_equal_ids() -> None:
    doc = json.loads(json.dumps(MAPPING))
    doc["mappings"]["TASK-E01-B2C4"] = {"jira": "PROJ-456"}
    assert messages(doc, "mapping") == [
        '$.mappings.TASK-E01-B2C4: same task as "TASK-E01-b2c4" (IDs differ only in case)',
        '$.mappings.TASK-E01-B2C4.jira: jira PROJ-456 is also held by "TASK-E01-b2c4"' + SETTLE,
    ]


def test_counter_at_or_below_used_number() -> None:
    counters = json.loads(json.dumps(COUNTERS))
    counters["counters"]["jira"]["PROJ"] = 456
    del counters["counters"]["linear"]["TEAM"]
    found = [str(p) for p in validate.check_pair(MAPPING, counters, "m.json", "c.json")]
    assert found == [
        "c.json: $.counters.jira.PROJ: counter 456 is at or below jira PROJ-456, already used in "
        "m.json (run `extid repair` to reconcile)",
        # absent, not "counter 0"
        "c.json: $.counters.linear.TEAM: counter missing, though linear TEAM-789 is already "
        "used in m.json (run `extid repair` to reconcile)",
    ]


def test_escapes_in_keys_are_quoted_not_emitted_raw() -> None:
    doc = json.loads(json.dumps(MAPPING))
    doc["mappings"]["TASK-E01-b2c4"]["\x1b[31mred"] = "x"
    (found,) = messages(doc, "mapping")
    assert "\x1b" not in found
    assert '["\\u001b[31mred"]: unknown field' in found


def test_jsonschema_second_opinion_adds_what_fast_pass_did_not_name() -> None:
    # A key outside the grammar: the fast pass names the key, jsonschema adds nothing twice.
    doc = json.loads(json.dumps(MAPPING))
    doc["mappings"]["TASK-x-y"] = {"jira": "PROJ-1"}
    found = messages(doc, "mapping")
    assert found == ['$.mappings.TASK-x-y: "TASK-x-y" is not an internal ID PREFIX-[SUB-]HASH[.N]']


# --- the fast pass agrees with the schema ---------------------------------------------------

_ids = st.from_regex(r"\A(TASK|EPIC|FEAT|DOC)-([A-Z0-9]{2,4}-)?[0-9a-fA-F]{4,6}(\.[0-9])?\Z")
_near_ids = st.one_of(_ids, st.sampled_from(["TASK-x-y", "task-abcd", "TASK-ABCDEFG", "X-1234"]))
_values = st.one_of(
    st.from_regex(r"\A[A-Z][A-Z0-9_]{0,3}-[1-9][0-9]{0,3}\Z"),
    st.from_regex(r"\A[1-9][0-9]{0,4}\Z"),
    st.sampled_from(["PROJ-0", "0", "01", "", "EPIC-001", "2025-01-08T10:00:00Z", "EPIC-1"]),
    st.integers(-2, 2),
    st.booleans(),
    st.none(),
)
_fields = st.sampled_from(["jira", "linear", "azure_devops", "github", "created", "epic", "x"])
_entries = st.dictionaries(_fields, _values, max_size=4)
_mappings = st.fixed_dictionaries(
    {
        "mappings": st.dictionaries(_near_ids, _entries, max_size=4),
        "updated": st.sampled_from(
            ["2025-01-08T10:30:00Z", "2025-01-08 10:30", "2025-01-08T10:30:00+02:00"]
        ),
        "version": st.sampled_from(["1.0", "1.0", "2.0"]),
    }
)
_counter = st.one_of(st.integers(-3, 2**53 + 2), st.booleans(), st.just("1"), st.none())
_counters = st.fixed_dictionaries(
    {
        "counters": st.fixed_dictionaries(
            {},
            optional={
                "azure_devops": _counter,
                "github": _counter,
                "jira": st.dictionaries(
                    st.sampled_from(["PROJ", "A_1", "p", "1X"]), _counter, max_size=3
                ),
                "linear": st.one_of(
                    st.dictionaries(st.sampled_from(["TEAM", "T"]), _counter), _counter
                ),
                "gitlab": _counter,
            },
        ),
        "updated": st.just("2025-01-08T10:30:00Z"),
        "version": st.just("1.0"),
    }
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_mappings.map(lambda d: ("mapping", d)), _counters.map(lambda d: ("counters", d))))
def test_fast_pass_and_schema_agree(case: tuple[str, Any]) -> None:
    kind, doc = case
    fast_structural = [
        p
        for p in validate.check_document(doc, kind, "f")  # type: ignore[arg-type]
        if "also held by" not in p.message and "differ only in case" not in p.message
    ]
    schema_errors = list(Draft202012Validator(schema(kind)).iter_errors(doc))
    assert bool(fast_structural) == bool(schema_errors), (fast_structural, schema_errors)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.one_of(
            st.integers(-(2**70), 2**70),
            st.text(),
            st.booleans(),
            st.none(),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=20,
    )
)
def test_canonical_is_the_stdlib_definition(obj: Any) -> None:
    expected = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"
    assert document.canonical(obj) == expected
    with pytest.MonkeyPatch.context() as mp:  # the large-document path, without 1,000 copies
        mp.setattr(document, "LARGE_ENTRIES", 2)
        big = {"mappings": {f"TASK-{i:04x}": obj for i in range(document.LARGE_ENTRIES + 1)}}
        assert document.canonical(big) == (
            json.dumps(big, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"
        )
