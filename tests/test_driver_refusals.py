"""The merge driver refuses a side that breaks the schema: a branch must not smuggle an unknown
tool, a bad ID or an out-of-range counter in through a clean merge. Small files take the
document merge, large ones the bytes fast path; both must refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run_extid

from extid.document import canonical

UPDATED = "2025-01-08T10:30:00Z"


def mapping(n: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    entries = {
        f"TASK-{i:05x}": {"created": "2025-01-08T10:00:00Z", "jira": f"PROJ-{i + 1}"}
        for i in range(n)
    }
    entries.update(extra or {})
    return {"mappings": entries, "updated": UPDATED, "version": "1.0"}


def counters(**extra: Any) -> dict[str, Any]:
    return {
        "counters": {"azure_devops": 0, "github": 0, "jira": {"PROJ": 5000}, "linear": {}, **extra},
        "updated": UPDATED,
        "version": "1.0",
    }


def drive(tmp_path: Path, base: Any, ours: Any, theirs: Any, name: str) -> tuple[int, str, bytes]:
    paths = []
    for label, doc in (("base", base), ("ours", ours), ("theirs", theirs)):
        path = tmp_path / f"{label}.json"
        path.write_bytes(canonical(doc))
        paths.append(str(path))
    result = run_extid("merge-driver", *paths, f".claude/state/{name}")
    return result.returncode, result.stderr, Path(paths[1]).read_bytes()


@pytest.mark.parametrize("size", [3, 4000])  # document merge; bytes fast path (> 256 KiB)
def test_unknown_field_on_their_side_is_refused(tmp_path: Path, size: int) -> None:
    theirs = mapping(size, {"TASK-fff00": {"jira": "PROJ-9999", "gitlab": "12"}})
    code, err, out = drive(
        tmp_path,
        mapping(size),
        mapping(size, {"TASK-fff01": {"github": "7"}}),
        theirs,
        "external_id_mapping.json",
    )
    assert code == 1
    assert "gitlab: unknown field (typo?)" in err
    assert "cannot merge by content" in err
    assert b"<<<<<<<" in out  # git's line merge with markers: neither side lost


def test_unknown_tool_in_counters_is_refused(tmp_path: Path) -> None:
    code, err, out = drive(
        tmp_path, counters(), counters(github=3), counters(gitlab=7), "external_id_counters.json"
    )
    assert code == 1
    assert "$.counters.gitlab: unknown tool" in err
    assert b"gitlab" in out and b"<<<<<<<" in out


def test_counter_of_ten_to_the_thirty_is_refused(tmp_path: Path) -> None:
    theirs = json.dumps(counters()).replace("5000", str(10**30)).encode()
    (tmp_path / "t.json").write_bytes(theirs)
    base, ours = tmp_path / "b.json", tmp_path / "o.json"
    base.write_bytes(canonical(counters()))
    ours.write_bytes(canonical(counters(github=3)))
    result = run_extid(
        "merge-driver",
        str(base),
        str(ours),
        str(tmp_path / "t.json"),
        ".claude/state/external_id_counters.json",
    )
    assert result.returncode == 1
    assert "integer with 31 digits is out of range" in result.stderr


def test_valid_sides_still_merge_cleanly_on_both_paths(tmp_path: Path) -> None:
    for size in (3, 4000):
        code, err, out = drive(
            tmp_path,
            mapping(size),
            mapping(size, {"TASK-fff01": {"github": "7"}}),
            mapping(size, {"TASK-fff00": {"linear": "TEAM-1"}}),
            "external_id_mapping.json",
        )
        assert (code, err) == (0, "")
        merged = json.loads(out)["mappings"]
        assert merged["TASK-fff00"] == {"linear": "TEAM-1"}
        assert merged["TASK-fff01"] == {"github": "7"}
        assert len(merged) == size + 2
