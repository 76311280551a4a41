"""`extid demo`: the newcomer's first run works end to end and tells the whole story."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_extid


def test_demo_runs_the_whole_story(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = run_extid("demo", "--dir", str(target))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Merge made by the 'ort' strategy." in out  # the clean concurrent merge
    assert "jira PROJ-4 is held by both TASK-beef (theirs) and TASK-cafe (ours)" in out
    assert "renumbered TASK-cafe jira PROJ-4 -> PROJ-5 (TASK-beef keeps PROJ-4)" in out
    mapping = json.loads((target / ".claude/state/external_id_mapping.json").read_text())
    held = [
        (tool, ext)
        for entry in mapping["mappings"].values()
        for tool, ext in entry.items()
        if tool not in ("created", "epic")
    ]
    assert len(held) == len(set(held)) == 11
    assert run_extid("check", cwd=target).returncode == 0
    status = (target / ".git" / "MERGE_HEAD").exists()
    assert not status  # the collision merge was committed


def test_demo_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    result = run_extid("demo", "--dir", str(tmp_path / "busy"))
    assert result.returncode == 1
    assert result.stderr == f"extid: error: {tmp_path / 'busy'}: demo directory is not empty\n"


def test_demo_without_dir_uses_a_throwaway_repository(tmp_path: Path) -> None:
    """The README's first command: `extid demo` with no arguments, outside any repository."""
    result = run_extid("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "== Done ==" in result.stdout
    assert list(tmp_path.iterdir()) == [tmp_path / "_home"]  # nothing left behind here
