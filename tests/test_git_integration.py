"""The merge driver, resolve, install, doctor and post-merge with the real git binary, in
repositories under tmp_path (git's global config points into tmp_path, see conftest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from git_helpers import (
    COUNTERS,
    MAPPING,
    allocate,
    commit,
    counters,
    extid,
    has_markers,
    mapping,
    ok,
    push_branch,
    setup_repo,
    teammate,
    unmerged,
    used_numbers,
)

from extid.document import canonical
from extid.setup.hooks import HOOK_MARKER, HOOK_NAMES, hook_script

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return setup_repo(tmp_path / "repo")


def branch(repo: Path, name: str, start: str = "main") -> None:
    git(repo, "checkout", "-q", "-b", name, start)


def checkout(repo: Path, name: str) -> None:
    git(repo, "checkout", "-q", name)


def assert_sound(repo: Path) -> None:
    """Both files valid (no markers, no collision, counters above used numbers)."""
    ok(extid(repo, "check"))
    ids = used_numbers(mapping(repo)["mappings"])
    assert len(ids) == len(set(ids))


def diverge(repo: Path) -> None:
    """`side` (a teammate's clone, pushed) allocates for TASK-B0B1 and main for TASK-AAA1, on
    different tools, and both for github."""
    mate = teammate(repo)
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    allocate(repo, "TASK-AAA2", "github")
    commit(repo, "main allocates")
    allocate(mate, "TASK-B0B1", "linear", "TEAM")
    allocate(mate, "TASK-B0B1", "github")
    push_branch(mate, "side", "side allocates")


# --- clean merges --------------------------------------------------------------------------


def test_merge_ort_unites_both_branches(repo: Path) -> None:
    diverge(repo)
    # Both branches took github 1: that one is a collision; keep the test about a clean merge.
    git(repo, "config", "extid.onCollision", "renumber")
    proc = git(repo, "merge", "-q", "side", "-m", "merge", check=False)
    assert proc.returncode == 0, proc.stderr
    m = mapping(repo)["mappings"]
    assert set(m) == {"TASK-AAA1", "TASK-AAA2", "TASK-B0B1"}
    assert m["TASK-B0B1"]["linear"] == "TEAM-1" and m["TASK-AAA1"]["jira"] == "PROJ-1"
    assert {m["TASK-AAA2"]["github"], m["TASK-B0B1"]["github"]} == {"1", "2"}
    assert "renumbered" in proc.stderr
    assert_sound(repo)  # the post-merge hook raised the github counter
    assert counters(repo)["counters"]["github"] == 3


def test_clean_merge_without_collision(repo: Path) -> None:
    branch(repo, "side")
    allocate(repo, "TASK-B0B1", "linear", "TEAM")
    commit(repo, "side")
    checkout(repo, "main")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "main")
    proc = git(repo, "merge", "-q", "side", "-m", "merge", check=False)
    assert proc.returncode == 0, proc.stderr
    assert set(mapping(repo)["mappings"]) == {"TASK-AAA1", "TASK-B0B1"}
    assert counters(repo)["counters"]["jira"] == {"PROJ": 2}
    assert counters(repo)["counters"]["linear"] == {"TEAM": 2}
    assert (repo / MAPPING).read_bytes() == canonical(mapping(repo))
    assert_sound(repo)


def test_rebase_swaps_sides_and_merges_to_the_same_content(tmp_path: Path) -> None:
    import shutil

    repo = setup_repo(tmp_path / "merge")
    git(repo, "config", "extid.onCollision", "renumber")
    branch(repo, "side")
    allocate(repo, "TASK-B0B1", "jira", "PROJ")  # both take PROJ-1: renumbered
    allocate(repo, "TASK-B0B1", "linear", "TEAM")
    commit(repo, "side")
    checkout(repo, "main")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "main")
    other = tmp_path / "rebase"
    shutil.copytree(repo, other, symlinks=True)  # the same history, the other operation
    ok(git(repo, "merge", "-q", "side", "-m", "merge", check=False))
    checkout(other, "side")
    ok(git(other, "rebase", "-q", "main", check=False))  # ours = main, theirs = side
    assert mapping(repo)["mappings"] == mapping(other)["mappings"]
    assert sorted(e["jira"] for e in mapping(repo)["mappings"].values()) == ["PROJ-1", "PROJ-2"]


def test_cherry_pick(repo: Path) -> None:
    branch(repo, "side")
    allocate(repo, "TASK-B0B1", "linear", "TEAM")
    commit(repo, "side")
    checkout(repo, "main")
    allocate(repo, "TASK-AAA1", "azure_devops")
    commit(repo, "main")
    proc = git(repo, "cherry-pick", "side", check=False)
    assert proc.returncode == 0, proc.stderr
    assert set(mapping(repo)["mappings"]) == {"TASK-AAA1", "TASK-B0B1"}
    assert_sound(repo)


def test_octopus_never_loses_anything_and_resolve_finishes_it(repo: Path) -> None:
    """git's octopus strategy merges files with merge-one-file (no merge drivers)."""
    root = git(repo, "rev-parse", "HEAD").stdout.strip()
    for name, task, team in (("b1", "TASK-B1B1", "TEAM"), ("b2", "TASK-B2B2", "OPS")):
        branch(repo, name, root)
        allocate(repo, task, "linear", team)
        commit(repo, name)
    checkout(repo, "main")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "main")
    before = mapping(repo)
    # ours changed the state too: octopus gives up and leaves the work tree as it was
    proc = git(repo, "merge", "b1", "b2", "-m", "octopus", check=False)
    assert proc.returncode != 0
    assert mapping(repo) == before and not unmerged(repo)
    # ours unchanged: it fast-forwards to b1, then leaves b2's merge conflicted...
    branch(repo, "fresh", root)
    proc = git(repo, "merge", "b1", "b2", "-m", "octopus", check=False)
    assert proc.returncode != 0
    assert unmerged(repo) == [COUNTERS, MAPPING]
    # ...which resolve finishes with the driver's logic
    ok(extid(repo, "resolve"))
    git(repo, "commit", "-q", "--no-edit")
    assert set(mapping(repo)["mappings"]) == {"TASK-B1B1", "TASK-B2B2"}
    assert_sound(repo)


def test_both_added_the_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    ok(extid(repo, "install", "--no-hooks"))
    commit(repo, "attributes")
    branch(repo, "side")
    allocate(repo, "TASK-B0B1", "linear", "TEAM")
    commit(repo, "side creates the state")
    checkout(repo, "main")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "main creates the state")
    proc = git(repo, "merge", "-q", "side", "-m", "merge", check=False)
    assert proc.returncode == 0, proc.stderr
    assert set(mapping(repo)["mappings"]) == {"TASK-AAA1", "TASK-B0B1"}
    assert_sound(repo)


def test_unversioned_side_against_a_versioned_side(repo: Path) -> None:
    allocate(repo, "TASK-0001", "jira", "PROJ")
    commit(repo, "one task")
    branch(repo, "side")
    bare = mapping(repo)["mappings"]  # an older script writes the bare object, hand-edited
    bare["TASK-B0B1"] = {"github": "77"}
    (repo / MAPPING).write_text(json.dumps(bare) + "\n")
    commit(repo, "side writes unversioned", "--no-verify")
    checkout(repo, "main")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "main")
    proc = git(repo, "merge", "-q", "side", "-m", "merge", check=False)
    assert proc.returncode == 0, proc.stderr
    doc = mapping(repo)
    assert doc["version"] == "1.0"
    assert set(doc["mappings"]) == {"TASK-0001", "TASK-AAA1", "TASK-B0B1"}
    assert_sound(repo)


# --- conflicts -----------------------------------------------------------------------------


def conflicting_jira(repo: Path) -> None:
    allocate(repo, "TASK-0001", "github")
    commit(repo, "base")
    branch(repo, "side")
    ok(extid(repo, "record", "TASK-0001", "jira", "PROJ-8"))
    commit(repo, "side says PROJ-8")
    checkout(repo, "main")
    ok(extid(repo, "record", "TASK-0001", "jira", "PROJ-7"))
    commit(repo, "main says PROJ-7")


def test_same_field_conflict_then_resolve_ours(repo: Path) -> None:
    conflicting_jira(repo)
    proc = git(repo, "merge", "side", "-m", "merge", check=False)
    assert proc.returncode != 0
    assert unmerged(repo) == [MAPPING]
    text = (repo / MAPPING).read_text()
    assert (
        '<<<<<<< ours\n      "jira": "PROJ-7"\n=======\n      "jira": "PROJ-8"\n>>>>>>> theirs'
        in text
    )
    assert '"github": "1"' in text  # everything else merged
    assert "unresolved merge conflict" in extid(repo, "check").stdout
    resolved = ok(extid(repo, "resolve", "--ours"))
    assert "resolved" in resolved.stdout
    assert unmerged(repo) == []
    assert mapping(repo)["mappings"]["TASK-0001"]["jira"] == "PROJ-7"
    git(repo, "commit", "-q", "--no-edit")
    assert_sound(repo)


def test_checkout_conflict_reruns_the_driver(repo: Path) -> None:
    conflicting_jira(repo)
    git(repo, "merge", "side", "-m", "merge", check=False)
    first = (repo / MAPPING).read_bytes()
    (repo / MAPPING).write_text("garbage from a botched hand edit\n")
    ok(git(repo, "checkout", "--conflict=diff3", "--", MAPPING, check=False))
    again = (repo / MAPPING).read_bytes()
    assert again == first  # the driver's smallest region, not git's diff3 of whole files
    assert b"|||||||" not in again
    ok(extid(repo, "resolve", "--theirs"))
    assert mapping(repo)["mappings"]["TASK-0001"]["jira"] == "PROJ-8"


def test_delete_against_modify(repo: Path) -> None:
    allocate(repo, "TASK-0001", "jira", "PROJ")
    allocate(repo, "TASK-0002", "jira", "PROJ")
    commit(repo, "base")
    branch(repo, "side")
    ok(extid(repo, "record", "TASK-0001", "github", "12"))
    commit(repo, "side adds github")
    checkout(repo, "main")
    ok(extid(repo, "remove", "TASK-0001"))
    commit(repo, "main removes the task")
    proc = git(repo, "merge", "side", "-m", "merge", check=False)
    assert proc.returncode != 0
    assert "deleted on ours" in proc.stderr + proc.stdout
    assert has_markers(repo / MAPPING)
    ok(extid(repo, "resolve", "--theirs"))
    assert mapping(repo)["mappings"]["TASK-0001"] == {
        **mapping(repo)["mappings"]["TASK-0001"],
        "github": "12",
        "jira": "PROJ-1",
    }
    git(repo, "commit", "-q", "--no-edit")
    assert_sound(repo)


def collide(repo: Path) -> None:
    """Two clones allocate the next jira number for different tasks: `side` (a teammate's clone,
    pushed) and main."""
    mate = teammate(repo)
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "main")
    allocate(mate, "TASK-B0B1", "jira", "PROJ")
    push_branch(mate, "side", "side")


def test_collision_is_a_conflict_by_default_then_renumbered_by_resolve(repo: Path) -> None:
    collide(repo)
    proc = git(repo, "merge", "side", "-m", "merge", check=False)
    assert proc.returncode != 0
    assert "PROJ-1 is held by both" in proc.stderr
    assert unmerged(repo) == [MAPPING]
    post = extid(repo, "post-merge")
    assert post.returncode == 1 and "unresolved merge conflict" in post.stderr
    out = ok(extid(repo, "resolve", "--renumber"))
    assert "renumbered" in out.stderr
    m = mapping(repo)["mappings"]
    assert sorted(e["jira"] for e in m.values()) == ["PROJ-1", "PROJ-2"]
    assert counters(repo)["counters"]["jira"]["PROJ"] == 3
    git(repo, "commit", "-q", "--no-edit")
    assert_sound(repo)


def test_resolve_json_reports_each_renumbering(repo: Path) -> None:
    """Scripts and CI act on renumberings: the old ID may already be in the tracker."""
    collide(repo)
    assert git(repo, "merge", "side", "-m", "merge", check=False).returncode != 0
    proc = extid(repo, "resolve", "--renumber", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    [moved] = report["renumbered"]
    assert report["status"] == "ok" and report["unresolved"] == []
    assert report["resolved"] == [MAPPING, COUNTERS] or report["resolved"] == [MAPPING]
    assert (moved["tool"], moved["from"], moved["to"]) == ("jira", "PROJ-1", "PROJ-2")
    assert mapping(repo)["mappings"][moved["id"]]["jira"] == "PROJ-2"
    assert mapping(repo)["mappings"][moved["kept_by"]]["jira"] == "PROJ-1"
    nothing = extid(repo, "resolve", "--json")
    assert json.loads(nothing.stdout)["resolved"] == [] and nothing.returncode == 0


def test_collision_renumbered_by_config_and_by_option(repo: Path, tmp_path: Path) -> None:
    collide(repo)
    git(repo, "config", "extid.onCollision", "renumber")
    proc = git(repo, "merge", "side", "-m", "merge", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "renumbered" in proc.stderr and "keeps PROJ-1" in proc.stderr
    assert_sound(repo)
    # the option on the command line, on the same three versions
    base, ours, theirs = (
        git(repo, "show", f"{rev}:{MAPPING}").stdout for rev in ("HEAD~2", "HEAD^1", "HEAD^2")
    )
    for name, text in (("b", base), ("o", ours), ("t", theirs)):
        (tmp_path / name).write_text(text)
    git(repo, "config", "--unset", "extid.onCollision")
    args = ["merge-driver", str(tmp_path / "b"), str(tmp_path / "o"), str(tmp_path / "t")]
    assert extid(repo, *args).returncode == 1
    (tmp_path / "o").write_text(ours)
    ok(extid(repo, *args, "--on-collision", "renumber"))
    assert json.loads((tmp_path / "o").read_text())["mappings"] == mapping(repo)["mappings"]


def test_driver_not_installed_then_resolve(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "plain", install=False)
    collide(repo)
    proc = git(repo, "merge", "side", "-m", "merge", check=False)
    assert proc.returncode != 0  # git's own line merge
    # (the counters conflict too unless both sides wrote them within the same second)
    assert MAPPING in unmerged(repo)
    out = extid(repo, "resolve")
    assert out.returncode == 1 and "held by both" in out.stderr  # the collision stays visible
    assert unmerged(repo) == [MAPPING]
    out = ok(extid(repo, "resolve", "--renumber", MAPPING))
    assert unmerged(repo) == []
    git(repo, "commit", "-q", "--no-edit")
    assert_sound(repo)
    assert sorted(e["jira"] for e in mapping(repo)["mappings"].values()) == ["PROJ-1", "PROJ-2"]


def test_corrupt_side_falls_back_to_a_line_merge(repo: Path) -> None:
    allocate(repo, "TASK-0001", "jira", "PROJ")
    commit(repo, "base")
    branch(repo, "side")
    text = (repo / MAPPING).read_text()
    (repo / MAPPING).write_text(text.replace('"PROJ-1"', '"PROJ-1",'))  # trailing comma
    commit(repo, "side breaks the file", "--no-verify")
    checkout(repo, "main")
    allocate(repo, "TASK-AAA1", "github")
    commit(repo, "main")
    proc = git(repo, "merge", "side", "-m", "merge", check=False)
    assert proc.returncode != 0
    assert "cannot merge by content" in proc.stderr and "(theirs)" in proc.stderr
    merged = (repo / MAPPING).read_text()
    assert has_markers(repo / MAPPING)
    assert '"PROJ-1",' in merged and "TASK-AAA1" in merged  # neither side lost
    assert unmerged(repo) == [MAPPING]


def test_driver_exit_codes_and_imports(tmp_path: Path) -> None:
    """The clean path loads neither GitPython nor jsonschema."""
    doc = {"mappings": {}, "updated": "2025-01-01T00:00:00Z", "version": "1.0"}
    base = tmp_path / "base"
    base.write_bytes(canonical(doc))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.write_bytes(canonical({**doc, "mappings": {"TASK-AAAA": {"jira": "P-1"}}}))
    theirs.write_bytes(canonical({**doc, "mappings": {"TASK-BBBB": {"jira": "P-2"}}}))
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "extid",
            "merge-driver",
            str(base),
            str(ours),
            str(theirs),
            MAPPING,
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    modules = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "extid.merge" in modules
    assert not {m for m in modules if m.split(".")[0] in ("git", "jsonschema")}
    assert set(json.loads(ours.read_text())["mappings"]) == {"TASK-AAAA", "TASK-BBBB"}


def test_driver_refuses_a_newer_version_by_line_merge(tmp_path: Path) -> None:
    doc = {"mappings": {}, "updated": "2025-01-01T00:00:00Z", "version": "1.0"}
    for name, version in (("base", "1.0"), ("ours", "1.0"), ("theirs", "9.0")):
        (tmp_path / name).write_bytes(canonical({**doc, "version": version}))
    proc = extid(tmp_path, "merge-driver", "base", "ours", "theirs", MAPPING)
    assert proc.returncode == 1 and "newer" in proc.stderr
    assert "9.0" in (tmp_path / "ours").read_text()  # their side is still there


# --- install / doctor / hooks --------------------------------------------------------------


def test_install_is_idempotent(repo: Path) -> None:
    attrs = (repo / ".gitattributes").read_text()
    assert attrs.count("merge=extid") == 2
    again = ok(extid(repo, "install", "--hooks"))
    assert "kept merge.extid.driver" in again.stdout and "kept hook" in again.stdout
    assert (repo / ".gitattributes").read_text() == attrs
    driver = git(repo, "config", "merge.extid.driver").stdout.strip()
    assert " -m extid; command -v extid " in driver and "merge-driver %O %A %B %P" in driver
    assert git(repo, "check-attr", "merge", "--", COUNTERS).stdout.strip().endswith("extid")


def test_install_appends_to_existing_attributes(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".gitattributes").write_text("*.png binary")  # no final newline
    ok(extid(repo, "install"))
    ok(extid(repo, "install"))
    lines = (repo / ".gitattributes").read_text().splitlines()
    assert lines == [
        "*.png binary",
        ".claude/state/external_id_mapping.json merge=extid",
        ".claude/state/external_id_counters.json merge=extid",
    ]


def test_install_honours_a_configured_state_dir(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    ok(extid(repo, "--state-dir", "ids/state", "install"))
    assert "ids/state/external_id_mapping.json merge=extid" in (repo / ".gitattributes").read_text()


def test_install_chains_onto_an_existing_hook(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    hook = repo / ".git" / "hooks" / "post-merge"
    hook.write_text('#!/bin/sh\necho "$1" > "$(git rev-parse --show-toplevel)/foreign-ran"\n')
    hook.chmod(0o755)
    ok(extid(repo, "install", "--hooks"))
    ok(extid(repo, "install", "--hooks"))
    chained = hook.with_name("post-merge.pre-extid")
    assert chained.exists() and "foreign-ran" in chained.read_text()
    assert HOOK_MARKER in hook.read_text() and "exec extid post-merge" in hook.read_text()
    proc = subprocess.run([str(hook), "0"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "foreign-ran").read_text() == "0\n"


def test_install_honours_core_hooks_path(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "core.hooksPath", ".githooks")
    ok(extid(repo, "init"))
    ok(extid(repo, "install", "--hooks"))
    for name in HOOK_NAMES:
        assert os.access(repo / ".githooks" / name, os.X_OK)
    assert not (repo / ".git" / "hooks" / "post-merge").exists()
    ok(extid(repo, "doctor"))


def test_install_global_writes_the_global_config(tmp_path: Path) -> None:
    ok(extid(tmp_path, "install", "--global"))
    assert "merge-driver" in git(tmp_path, "config", "--global", "merge.extid.driver").stdout


def test_hook_scripts_match_what_install_writes() -> None:
    for name in HOOK_NAMES:
        path = REPO_ROOT / "hooks" / name
        assert path.read_text() == hook_script(name)
        assert os.access(path, os.X_OK)
        ok(subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True))


def test_hook_without_extid_on_path_says_so(repo: Path) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(hook_script("pre-commit", str(repo / "moved-venv" / "bin" / "python")))
    proc = subprocess.run([str(hook)], cwd=repo, capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert "moved-venv/bin/python is gone, none on PATH): run 'extid install'" in proc.stderr


def test_doctor_catches_an_attribute_without_a_driver(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "r")
    ok(extid(repo, "doctor"))
    git(repo, "config", "--unset", "merge.extid.driver")
    proc = extid(repo, "doctor")
    assert proc.returncode == 1
    assert "silently falls back to a line merge" in proc.stdout
    assert "fix: extid install" in proc.stdout


def test_doctor_names_each_missing_piece(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".claude" / "state").mkdir(parents=True)
    (repo / MAPPING).write_text("{")
    proc = extid(repo, "doctor")
    assert proc.returncode == 1
    for piece in (
        "merge.extid.driver",
        "merge=extid",
        "hook",
        "lock file",
        "external_id_mapping.json",
    ):
        assert piece in proc.stdout


def test_post_merge_reconciles_counters_and_reports_collisions(repo: Path) -> None:
    allocate(repo, "TASK-0001", "jira", "PROJ")
    doc = counters(repo)
    doc["counters"]["jira"]["PROJ"] = 1  # as if a merge had kept an old counter
    (repo / COUNTERS).write_bytes(canonical(doc))
    proc = ok(extid(repo, "post-merge"))
    assert "raised" in proc.stderr
    assert counters(repo)["counters"]["jira"]["PROJ"] == 2
    m = mapping(repo)
    m["mappings"]["TASK-0002"] = {"jira": "PROJ-1"}
    (repo / MAPPING).write_bytes(canonical(m))
    proc = extid(repo, "post-merge")
    assert proc.returncode == 1 and "also held by" in proc.stderr


def test_driver_on_a_large_registry_merges_only_what_changed(tmp_path: Path) -> None:
    """Above 256 KiB the driver works on the changed entries' bytes; same result."""
    from extid.merge import fast_merge_mapping, merge

    entries = {
        f"TASK-{n:05X}": {"created": "2025-01-01T00:00:00Z", "jira": f"P-{n}"}
        for n in range(1, 3000)
    }
    base = {"mappings": entries, "updated": "2025-01-01T00:00:00Z", "version": "1.0"}
    ours = json.loads(json.dumps(base))
    theirs = json.loads(json.dumps(base))
    for n in range(20):
        ours["mappings"][f"TASK-A{n:04X}"] = {"jira": f"P-{5000 + n}"}
        theirs["mappings"][f"TASK-B{n:04X}"] = {"linear": f"T-{n + 1}"}
    theirs["mappings"]["TASK-00005"]["github"] = "5"
    del ours["mappings"]["TASK-00009"]
    for name, doc in (("base", base), ("ours", ours), ("theirs", theirs)):
        (tmp_path / name).write_bytes(canonical(doc))
    assert len((tmp_path / "ours").read_bytes()) > 256 * 1024
    sides = [canonical(d) for d in (base, ours, theirs)]
    fast = fast_merge_mapping(*sides)  # the path the driver takes here
    assert fast is not None and fast.clean
    ok(extid(tmp_path, "merge-driver", "base", "ours", "theirs", MAPPING))
    assert (tmp_path / "ours").read_bytes() == merge(base, ours, theirs, "mapping").render()


# --- resolve: the edges ---------------------------------------------------------------------


def test_resolve_with_nothing_to_do_and_a_path_that_is_not_conflicted(repo: Path) -> None:
    assert "no conflicted state files" in ok(extid(repo, "resolve")).stdout
    proc = extid(repo, "resolve", MAPPING)
    assert proc.returncode == 1 and "not conflicted" in proc.stderr


def test_resolve_both_files_bounds_the_counters_by_the_merged_mappings(tmp_path: Path) -> None:
    repo = setup_repo(tmp_path / "plain", install=False)
    branch(repo, "side")
    allocate(repo, "TASK-B0B1", "jira", "OPS")
    allocate(repo, "TASK-B0B2", "jira", "OPS")
    commit(repo, "side")
    checkout(repo, "main")
    allocate(repo, "TASK-AAA1", "jira", "PROJ")
    commit(repo, "main")
    doc = counters(repo)
    doc["counters"]["jira"]["PROJ"] = 1  # a stale counter: the merged mappings must lift it
    (repo / COUNTERS).write_bytes(canonical(doc))
    commit(repo, "stale counter", "--no-verify")
    assert git(repo, "merge", "side", "-m", "merge", check=False).returncode != 0
    assert set(unmerged(repo)) == {COUNTERS, MAPPING}
    out = ok(extid(repo, "resolve"))
    assert out.stdout.count("resolved") == 2
    assert counters(repo)["counters"]["jira"] == {"OPS": 3, "PROJ": 2}
    git(repo, "commit", "-q", "--no-edit")
    assert_sound(repo)


def test_resolve_refuses_a_file_deleted_on_one_side(repo: Path) -> None:
    allocate(repo, "TASK-0001", "jira", "PROJ")
    commit(repo, "base")
    branch(repo, "side")
    git(repo, "rm", "-q", MAPPING)
    commit(repo, "side drops the registry", "--no-verify")
    checkout(repo, "main")
    allocate(repo, "TASK-0002", "jira", "PROJ")
    commit(repo, "main")
    assert git(repo, "merge", "side", "-m", "merge", check=False).returncode != 0
    proc = extid(repo, "resolve")
    assert proc.returncode == 1 and "deleted on theirs" in proc.stderr
    assert "TASK-0002" in (repo / MAPPING).read_text()  # nothing touched


def test_git_helpers_read_blobs_and_fall_back_without_git(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extid import git as extid_git

    allocate(repo, "TASK-0001", "jira", "PROJ")
    commit(repo, "one")
    assert b"TASK-0001" in (extid_git.head_blob(repo, MAPPING) or b"")
    assert extid_git.head_blob(repo, "no/such/file") is None
    assert extid_git.is_ignored(repo, ".claude/state/.extid.lock")
    monkeypatch.setenv("PATH", "")
    merged = extid_git.line_merge(b"ours\n", b"base\n", b"theirs")
    assert merged == (b"<<<<<<< ours\nours\n=======\ntheirs\n>>>>>>> theirs\n", True)
