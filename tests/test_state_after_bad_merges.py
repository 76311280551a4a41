"""What the store does with the state a merge without the driver leaves behind.

A collision (two tasks on one external ID) or a file git still holds as conflicted is the
result of a merge, not corruption: "recovering" it from `.bak` would silently drop the other
branch's work. The store must refuse to write and point at `extid resolve`, and leave every
byte where it is.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import git
from git_helpers import (
    COUNTERS,
    MAPPING,
    STATE,
    commit,
    diverge,
    extid,
    has_markers,
    ok,
    setup_repo,
)

from extid.document import canonical


def _snapshot(repo: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((repo / STATE).iterdir()) if p.is_file()}


def _merge_keeping_both(repo: Path) -> None:
    """Merge `side` without the driver and "resolve" by hand, keeping both entries: the
    collision gets into the work tree. Both sides raised the same counter, so the counters
    files differ only in `updated`, stamped in whole seconds: git's line merge conflicts on it
    whenever the two allocations straddle a second boundary. Ours is taken, as a user would."""
    git(repo, "merge", "side", check=False)
    ours = json.loads(git(repo, "show", f"main:{MAPPING}").stdout)
    theirs = json.loads(git(repo, "show", f"side:{MAPPING}").stdout)
    ours["mappings"].update(theirs["mappings"])
    (repo / MAPPING).write_bytes(canonical(ours))
    counters = {
        side: json.loads(git(repo, "show", f"{side}:{COUNTERS}").stdout)
        for side in ("main", "side")
    }
    assert counters["main"]["counters"] == counters["side"]["counters"]
    (repo / COUNTERS).write_bytes(canonical(counters["main"]))


def test_conflicted_file_is_refused_not_restored_from_backup(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", install=False)  # git's line merge: markers
    diverge(repo)
    assert git(repo, "merge", "side", check=False).returncode == 1
    assert has_markers(repo / MAPPING)
    before = _snapshot(repo)
    result = extid(repo, "allocate", "TASK-d00d", "github")
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "external_id_mapping.json: unresolved merge conflict; run `extid resolve` (or `extid "
        "resolve --ours` / `--theirs` / `--renumber`) and commit before using the registry"
    )
    assert "Traceback" not in result.stderr
    assert _snapshot(repo) == before  # nothing quarantined, nothing restored
    ok(extid(repo, "resolve", "--renumber"))
    assert ok(extid(repo, "allocate", "TASK-d00d", "github")).stdout.strip() == "1"


def test_collision_committed_by_a_merge_is_reported_never_rolled_back(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", install=False)
    diverge(repo)
    _merge_keeping_both(repo)
    check = extid(repo, "check")
    assert check.returncode == 1 and "is also held by" in check.stdout, check.stdout + check.stderr
    before = _snapshot(repo)
    assert (
        ok(extid(repo, "lookup", "TASK-beef")).stdout.split("\ncreated: ")[0] == "jira: PROJ-1"
    )  # then `created`
    result = extid(repo, "allocate", "TASK-d00d", "jira", "--project", "PROJ")
    assert result.returncode == 1
    assert "jira PROJ-1 is also held by" in result.stderr
    assert _snapshot(repo) == before
    assert not list((repo / STATE).glob("*.corrupt-*"))


def _planted_collision(tmp_path: Path) -> Path:
    repo = setup_repo(tmp_path / "r", install=False)
    diverge(repo)
    _merge_keeping_both(repo)
    commit(repo, "merge that kept both")
    return repo


def test_post_merge_reports_a_collision_as_path_message(tmp_path: Path) -> None:
    repo = _planted_collision(tmp_path)
    result = extid(repo, "post-merge")
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(str(repo / MAPPING) + ": $.mappings.")
    assert "jira PROJ-1 is also held by" in first


def test_post_merge_on_collision_renumber_keeps_the_first_created(tmp_path: Path) -> None:
    repo = _planted_collision(tmp_path)
    created = {
        k: v["created"] for k, v in json.loads((repo / MAPPING).read_text())["mappings"].items()
    }
    keeper, later = sorted(created, key=lambda k: (created[k], k))
    result = extid(repo, "post-merge", "--on-collision", "renumber")
    assert result.returncode == 1  # files changed: the user must commit them
    assert f"renumbered {later} jira PROJ-1 -> PROJ-2 ({keeper} keeps it)" in result.stderr
    assert (
        ok(extid(repo, "lookup", later)).stdout.split("\ncreated: ")[0] == "jira: PROJ-2"
    )  # then `created`
    assert (
        ok(extid(repo, "lookup", keeper)).stdout.split("\ncreated: ")[0] == "jira: PROJ-1"
    )  # then `created`
    ok(extid(repo, "check"))
    assert (
        ok(extid(repo, "allocate", "TASK-d00d", "jira", "--project", "PROJ")).stdout.strip()
        == "PROJ-3"
    )


def test_post_merge_json_reports_renumberings_and_problems(tmp_path: Path) -> None:
    """`post-merge --json`: one document on stdout for scripts and CI, in `resolve --json`'s
    shape for renumberings and `check --json`'s for problems; the messages stay on stderr."""
    repo = _planted_collision(tmp_path)
    created = {
        k: v["created"] for k, v in json.loads((repo / MAPPING).read_text())["mappings"].items()
    }
    keeper, later = sorted(created, key=lambda k: (created[k], k))
    reported = extid(repo, "post-merge", "--json")
    assert reported.returncode == 1 and "also held by" in reported.stderr
    doc = json.loads(reported.stdout)
    assert (doc["status"], doc["renumbered"], doc["changed"]) == ("fail", [], [])
    assert [e["filename"] for e in doc["errors"]] == [str(repo / MAPPING)]
    assert doc["errors"][0]["path"] in {f"$.mappings.{task}.jira" for task in created}
    assert "jira PROJ-1 is also held by" in doc["errors"][0]["message"]

    renumbered = extid(repo, "post-merge", "--json", "--on-collision", "renumber")
    assert renumbered.returncode == 1  # files changed: the user must commit them
    assert json.loads(renumbered.stdout) == {
        "status": "fail",
        "renumbered": [
            {"id": later, "tool": "jira", "from": "PROJ-1", "to": "PROJ-2", "kept_by": keeper}
        ],
        "errors": [],
        "changed": [],
    }
    commit(repo, "renumbered")
    settled = extid(repo, "post-merge", "--json")
    assert (settled.returncode, json.loads(settled.stdout)) == (
        0,
        {"status": "ok", "renumbered": [], "errors": [], "changed": []},
    )


def test_post_merge_json_lists_what_it_wrote(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r", install=False)
    ok(extid(repo, "allocate", "TASK-beef", "jira", "--project", "PROJ"))
    commit(repo, "one")
    doc = json.loads((repo / COUNTERS).read_text())
    doc["counters"]["jira"]["PROJ"] = 1  # at the used number: post-merge raises it
    (repo / COUNTERS).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    reported = extid(repo, "post-merge", "--json")
    out = json.loads(reported.stdout)
    assert (out["status"], out["errors"], out["renumbered"]) == ("ok", [], [])
    assert out["changed"] == [f"{repo / COUNTERS}: counters raised above the used numbers"]
    assert json.loads((repo / COUNTERS).read_text())["counters"]["jira"]["PROJ"] == 2
