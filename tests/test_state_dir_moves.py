"""Moving the registry (a user review): `extid install --state-dir NEW` refuses to leave the
registry behind (an empty one at NEW would issue its numbers again), a fresh clone finds it
where `.gitattributes` records it, and the original tool's lock and temp files are strays."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import InProcess, git, run_extid
from git_helpers import commit, ok
from store_helpers import GUARDKIT

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

M, C = "external_id_mapping.json", "external_id_counters.json"


@pytest.fixture
def here(repo: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess) -> Path:
    """`repo` as the current directory, its registry at .claude/state holding TASK-aaaa =
    PROJ-1, committed."""
    monkeypatch.chdir(repo)
    ok(in_process("install", "--no-hooks"))
    ok(in_process("init"))
    ok(in_process("allocate", "TASK-aaaa", "jira", "--project", "PROJ"))
    commit(repo, "registry")
    return repo


def snapshot(repo: Path) -> tuple[str, str, str]:
    """What a refusal must leave as it was: the config, the attributes, git's view."""
    config = (repo / ".git" / "config").read_text()
    return config, (repo / ".gitattributes").read_text(), git(repo, "status", "-s").stdout


def test_install_state_dir_refuses_to_leave_the_registry_behind(
    here: Path, in_process: InProcess
) -> None:
    before = snapshot(here)
    refused = in_process("install", "--state-dir", "config/ids")
    assert refused.returncode == 1 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1
    assert ".claude/state: holds this repository's registry" in refused.stderr
    assert "`mkdir -p config && git mv .claude/state config/ids`" in refused.stderr
    assert "then `extid install --state-dir config/ids`" in refused.stderr
    assert snapshot(here) == before and not (here / "config").exists()
    # Followed: the registry moves, install takes it, the old number stays issued.
    (here / "config").mkdir()
    git(here, "mv", ".claude/state", "config/ids")
    ok(in_process("install", "--no-hooks", "--state-dir", "config/ids"))
    assert "TASK-aaaa" in ok(in_process("list")).stdout
    assert ok(in_process("allocate", "TASK-bbbb", "jira", "--project", "PROJ")).stdout == "PROJ-2\n"


def test_refused_when_the_old_files_are_only_in_head_or_the_configured_place(
    here: Path, in_process: InProcess
) -> None:
    git(here, "rm", "-r", "-q", ".claude/state")  # staged deletion: HEAD still holds them
    refused = in_process("install", "--state-dir", "config/ids")
    assert refused.returncode == 1 and ".claude/state: holds" in refused.stderr
    git(here, "reset", "-q", "--hard")
    (here / "config" / "ids").mkdir(parents=True)  # NEW exists: the files are moved into it
    git(here, "mv", f".claude/state/{M}", f".claude/state/{C}", "config/ids/")
    ok(in_process("install", "--no-hooks", "--state-dir", "config/ids"))
    commit(here, "moved")
    refused = in_process("install", "--state-dir", "other")  # now leaving extid.stateDir's
    assert refused.returncode == 1
    assert "(`git mv config/ids other`)" in refused.stderr
    assert git(here, "config", "extid.stateDir").stdout.strip() == "config/ids"


def test_a_fresh_clone_finds_the_moved_registry_through_gitattributes(
    here: Path, in_process: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "config").mkdir()
    git(here, "mv", ".claude/state", "config/ids")
    ok(in_process("install", "--no-hooks", "--state-dir", "config/ids"))
    commit(here, "registry moved")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(here), str(clone))
    monkeypatch.chdir(clone)
    refused = in_process("allocate", "TASK-cccc", "jira", "--project", "PROJ")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "config/ids: .gitattributes names this repository's registry there" in refused.stderr
    assert "run `extid install`" in refused.stderr
    doctor = in_process("doctor")
    assert doctor.returncode == 1 and "run `extid install`" in doctor.stdout
    assert not (clone / ".claude").exists()  # nothing started at the default
    installed = ok(in_process("install", "--no-hooks"))
    assert "set extid.stateDir = config/ids (local): .gitattributes records" in installed.stdout
    assert ok(in_process("allocate", "TASK-cccc", "jira", "--project", "PROJ")).stdout == "PROJ-2\n"


def test_a_file_where_the_state_directory_belongs_does_not_advise_moving_away(
    here: Path, in_process: InProcess
) -> None:
    shutil.rmtree(here / ".claude" / "state")
    (here / ".claude" / "state").write_text("not a directory\n")
    refused = in_process("list")
    assert refused.returncode == 1 and "is not a directory" in refused.stderr
    assert "`extid install --state-dir`" not in refused.stderr
    assert in_process("install", "--state-dir", "elsewhere").returncode == 1  # HEAD holds it


def test_the_original_tools_lock_and_temp_files_are_strays(repo: Path) -> None:
    state = repo / ".claude" / "state"
    state.mkdir(parents=True)
    for name in (M, C):
        shutil.copyfile(GUARDKIT / name, state / name)
    strays = (f"{M}.lock", f"{C}.lock", ".tmp_k2j4x9.json")
    for name in strays:
        (state / name).write_text("{}")
    commit(repo, "guardkit's state, committed with git add -A")
    doctor = run_extid("doctor", cwd=repo)
    assert doctor.returncode == 1
    for name in strays:
        assert f".claude/state/{name} is tracked by git" in doctor.stdout
    installed = ok(run_extid("install", "--no-hooks", cwd=repo))
    for name in strays:
        assert f"untracked .claude/state/{name} (git rm --cached" in installed.stdout
        assert (state / name).exists()
    commit(repo, "untracked")
    assert git(repo, "ls-files", ".claude/state").stdout.split() == [
        ".claude/state/.gitignore",
        f".claude/state/{C}",
        f".claude/state/{M}",
    ]
    assert "is tracked by git" not in run_extid("doctor", cwd=repo).stdout


def test_state_dirs_reads_the_patterns_install_writes(tmp_path: Path) -> None:
    from extid.setup.attributes import ensure, state_dirs

    ensure(tmp_path, [f'we*ird [1] "q"/state/{M}', f"my ids/state/{C}", M])
    with (tmp_path / ".gitattributes").open("a") as f:
        f.write(f"/anchored/ids/{M} merge=extid\n*.png binary\nother/x.json merge=extid\n")
    assert state_dirs(tmp_path) == ['we*ird [1] "q"/state', "my ids/state", "", "anchored/ids"]
