"""A side the merge driver cannot parse (issue 11, item 16): the result shows both sides
between conflict markers, never one side's bytes alone nor an unmarked mix of both, and the
message says what the file now holds."""

from __future__ import annotations

from pathlib import Path

from conftest import git, run_extid
from git_helpers import MAPPING, allocate, commit, setup_repo, unmerged


def test_our_side_equal_to_the_base_still_shows_both_sides(tmp_path: Path) -> None:
    """git's line merge of an unchanged side is their bytes alone, which the driver wrote
    without a marker while promising markers."""
    repo = setup_repo(tmp_path / "repo")
    allocate(repo, "TASK-0001", "jira", "PROJ")
    base = (repo / MAPPING).read_bytes()
    truncated = base[: len(base) // 2]
    files = []
    for name, data in (("base", base), ("ours", base), ("theirs", truncated)):
        (tmp_path / name).write_bytes(data)
        files.append(str(tmp_path / name))
    result = run_extid("merge-driver", *files, MAPPING, cwd=repo)
    assert result.returncode == 1
    out = (tmp_path / "ours").read_bytes()
    assert out == b"<<<<<<< ours\n" + base + b"=======\n" + truncated + b"\n>>>>>>> theirs\n"
    assert (
        "(theirs)" in result.stderr and "both sides whole between conflict markers" in result.stderr
    )


def test_a_clean_line_merge_of_a_broken_side_is_never_left_unmarked(tmp_path: Path) -> None:
    """Their side breaks one entry in the middle, ours adds one at the top: git's line merge
    is clean, and was written as the result, broken JSON with no marker and exit 1."""
    repo = setup_repo(tmp_path / "repo")
    for task in ("TASK-0001", "TASK-0002", "TASK-0003"):
        allocate(repo, task, "jira", "PROJ")
    commit(repo, "three")
    git(repo, "checkout", "-q", "-b", "side")
    text = (repo / MAPPING).read_text()
    broken = text.replace('"jira": "PROJ-2"', '"jira": "PROJ-2')
    (repo / MAPPING).write_text(broken)
    commit(repo, "side breaks an entry", "--no-verify")
    git(repo, "checkout", "-q", "main")
    (repo / MAPPING).write_text(
        text.replace(
            '"mappings": {\n',
            '"mappings": {\n    "TASK-0000": {\n      "jira": "PROJ-9"\n    },\n',
            1,
        )
    )
    commit(repo, "main adds one at the top", "--no-verify")
    ours = (repo / MAPPING).read_text()
    proc = git(repo, "merge", "side", "-m", "merge", check=False)
    assert proc.returncode != 0 and "both sides whole" in proc.stderr
    assert (repo / MAPPING).read_text() == f"<<<<<<< ours\n{ours}=======\n{broken}>>>>>>> theirs\n"
    assert unmerged(repo) == [MAPPING]
