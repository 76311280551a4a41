"""Maintenance of a state directory (`extid.store.maintenance`): `init` and its `.gitignore`,
`migrate`, and both on a missing directory."""

from __future__ import annotations

import json
from pathlib import Path

from store_helpers import (
    COUNTERS,
    COUNTERS_FILE,
    MAPPING,
    MAPPING_FILE,
    committed_repo,
    snapshot,
    write_state,
)

import extid
from extid.store import Store


def test_migrate_dry_run_changes_nothing_then_migrate_keeps_bak(state_dir: Path) -> None:
    m, c = write_state(state_dir, mapping=MAPPING["mappings"], counters=COUNTERS["counters"])
    before = snapshot(state_dir)
    todo = Store(state_dir).migrate(dry_run=True)
    assert [(p.name, old, new) for p, old, new in todo] == [
        (COUNTERS_FILE, "0", "1.0"),
        (MAPPING_FILE, "0", "1.0"),
    ]
    assert snapshot(state_dir) == before
    Store(state_dir).migrate()
    assert json.loads(m.read_text())["version"] == "1.0"
    assert json.loads(c.read_text())["version"] == "1.0"
    assert (state_dir / (MAPPING_FILE + ".bak")).read_bytes() == before[MAPPING_FILE]
    assert Store(state_dir).migrate() == []


def test_init_writes_gitignore_and_keeps_user_lines(state_dir: Path) -> None:
    created = Store(state_dir).init()
    assert {p.name for p in created} == {MAPPING_FILE, COUNTERS_FILE, ".gitignore"}
    ignore = (state_dir / ".gitignore").read_text().splitlines()
    assert {".extid.lock", "*.bak", "*.corrupt-*", ".*.tmp-*"} <= set(ignore)
    (state_dir / ".gitignore").write_text("mine\n")
    assert Store(state_dir).init() == []
    lines = (state_dir / ".gitignore").read_text().splitlines()
    assert lines[0] == "mine" and "*.bak" in lines


def test_gitignore_really_ignores_the_side_files(repo_root: Path) -> None:
    state_dir = committed_repo(repo_root)
    Store(state_dir).init()
    extid.save_mappings({}, state_dir=state_dir)
    (state_dir / f".{MAPPING_FILE}.tmp-0123456789abcdef").write_bytes(b"")
    (state_dir / f"{MAPPING_FILE}.corrupt-20260101T000000Z").write_bytes(b"")
    from store_helpers import git

    status = git(repo_root, "status", "--porcelain", "--untracked-files=all")
    assert sorted(line[3:] for line in status.splitlines()) == [
        ".claude/state/.gitignore",
        ".claude/state/external_id_mapping.json",
    ]
    assert (state_dir / (MAPPING_FILE + ".bak")).exists()


def test_maintenance_on_a_missing_directory_does_nothing(state_dir: Path) -> None:
    assert Store(state_dir).repair() == []
    assert Store(state_dir).migrate() == []
    assert not state_dir.exists()
