"""`extid install`, `uninstall` and `doctor` as a user meets them, with the real git and the real
pre-commit: one set-up command, hooks left to pre-commit where it runs extid's (never chained
onto its script), a driver that runs or ends as a visible conflict, a remembered state
directory, a `.claude` symlink and a state directory with a space (issue 11, items 3-6, 13, 14).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import InProcess, git
from git_helpers import COUNTERS, MAPPING, allocate, commit, diverge, extid, has_markers, ok

from extid.setup.hooks import HOOK_MARKER, HOOK_NAMES, hook_script

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

EXTID_CONFIG = """\
default_install_hook_types:
    [pre-commit, pre-merge-commit, prepare-commit-msg, post-merge, post-rewrite]
repos:
-   repo: local
    hooks:
    -   id: extid-check
        name: extid check
        entry: extid check
        language: system
        files: (^|/)external_id_(mapping|counters)\\.json$
        require_serial: true
    -   id: extid-check-replay
        name: extid check (rebase --continue)
        entry: extid check --staged --replaying
        language: system
        always_run: true
        pass_filenames: false
        stages: [prepare-commit-msg]
    -   id: extid-post-merge
        name: extid post-merge
        entry: extid post-merge
        language: system
        stages: [post-merge, post-rewrite]
        always_run: true
        pass_filenames: false
"""
OTHER_CONFIG = """\
repos:
-   repo: local
    hooks:
    -   id: something-else
        name: something else
        entry: 'true'
        language: system
"""


@pytest.fixture(autouse=True)
def _pre_commit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    monkeypatch.setenv("PRE_COMMIT_COLOR", "never")


@pytest.fixture
def here(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`repo` (one empty commit) as the current directory, for in-process commands."""
    monkeypatch.chdir(repo)
    return repo


def pre_commit(repo: Path, config: str) -> None:
    """`pre-commit install` with `config` committed (pre-commit refuses an unstaged config)."""
    (repo / ".pre-commit-config.yaml").write_text(config)
    commit(repo, "pre-commit config")
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"], cwd=repo, capture_output=True, text=True
    )
    ok(proc)


def hooks(repo: Path) -> dict[str, bytes]:
    directory = repo / ".git" / "hooks"
    return {p.name: p.read_bytes() for p in directory.iterdir() if not p.name.endswith(".sample")}


def commit_allocation(repo: Path, task: str) -> subprocess.CompletedProcess[str]:
    allocate(repo, task, "github")
    git(repo, "add", "-A")
    return git(repo, "commit", "-m", f"allocate for {task}", check=False)


# --- item 3: one set-up path, pre-commit's hooks -----------------------------------------------


def test_install_sets_everything_up_in_one_go(here: Path, in_process: InProcess) -> None:
    ok(in_process("install"))
    for name in HOOK_NAMES:
        assert HOOK_MARKER in (here / ".git" / "hooks" / name).read_text()
    assert ".extid.lock" in (here / ".claude" / "state" / ".gitignore").read_text()
    assert "merge-driver" in git(here, "config", "merge.extid.driver").stdout
    assert git(here, "check-attr", "merge", "--", MAPPING).stdout.endswith("merge: extid\n")
    doctor = in_process("doctor")
    assert doctor.returncode == 0 and "all set" in doctor.stdout, doctor.stdout


def test_hooks_are_left_to_pre_commit_when_its_config_runs_extid(
    here: Path, in_process: InProcess
) -> None:
    pre_commit(here, EXTID_CONFIG)
    before = hooks(here)
    installed = ok(in_process("install", "--hooks"))  # the flag doctor used to suggest
    assert "left to pre-commit (.pre-commit-config.yaml runs extid-check)" in installed.stdout
    assert hooks(here) == before  # nothing chained, nothing added
    doctor = in_process("doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "(pre-commit runs extid-post-merge)" in doctor.stdout
    committed = commit_allocation(here, "TASK-abcd")
    assert committed.returncode == 0, committed.stdout + committed.stderr
    assert "extid check" in committed.stderr and "Passed" in committed.stderr


def test_never_chains_onto_a_pre_commit_hook_that_runs_no_extid(
    here: Path, in_process: InProcess
) -> None:
    pre_commit(here, OTHER_CONFIG)
    script = (here / ".git" / "hooks" / "pre-commit").read_bytes()
    installed = ok(in_process("install", "--hooks"))
    assert "left pre-commit's hook" in installed.stdout
    assert "add `id: extid-check` to .pre-commit-config.yaml" in installed.stderr
    assert (here / ".git" / "hooks" / "pre-commit").read_bytes() == script
    assert not (here / ".git" / "hooks" / "pre-commit.pre-extid").exists()
    committed = commit_allocation(here, "TASK-abcd")
    assert committed.returncode == 0, committed.stdout + committed.stderr
    doctor = in_process("doctor")
    assert doctor.returncode == 1
    assert "fix: add `id: extid-check` to .pre-commit-config.yaml" in doctor.stdout


def test_install_undoes_an_earlier_chain_onto_pre_commit(here: Path, in_process: InProcess) -> None:
    """What `install --hooks` did before: pre-commit's script moved to `.pre-extid`, after which
    every commit failed in pre-commit's "migration mode"."""
    pre_commit(here, EXTID_CONFIG)
    hook = here / ".git" / "hooks" / "pre-commit"
    script = hook.read_bytes()
    hook.rename(hook.with_name("pre-commit.pre-extid"))
    hook.write_text(hook_script("pre-commit"))
    hook.chmod(0o755)
    installed = ok(in_process("install", "--hooks"))
    assert "restored pre-commit's hook" in installed.stdout
    assert hook.read_bytes() == script
    committed = commit_allocation(here, "TASK-abcd")
    assert committed.returncode == 0, committed.stdout + committed.stderr


def test_doctor_counts_extid_s_hook_that_pre_commit_moved_aside(
    here: Path, in_process: InProcess
) -> None:
    """`extid install` first, `pre-commit install` after: pre-commit keeps extid's hook as
    `<hook>.legacy` and runs it first; `uninstall` takes that one out too."""
    ok(in_process("install"))
    pre_commit(here, OTHER_CONFIG)
    assert HOOK_MARKER in (here / ".git" / "hooks" / "pre-commit.legacy").read_text()
    doctor = in_process("doctor")
    assert "(pre-commit runs extid's hook, as pre-commit.legacy)" in doctor.stdout
    ok(in_process("uninstall"))
    assert not (here / ".git" / "hooks" / "pre-commit.legacy").exists()
    committed = commit_allocation(here, "TASK-abcd")
    assert committed.returncode == 0, committed.stdout + committed.stderr


# --- item 4: the driver runs, or the merge is a visible conflict ----------------------------


def fake_venv(root: Path) -> Path:
    """A virtualenv at `root` sharing this one's packages (so extid is installed in it): what
    a user's venv is until it is moved or deleted. Returns its python."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run in a virtualenv")
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(sys.executable)
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", root / "pyvenv.cfg")
    (root / "lib").symlink_to(Path(sys.prefix) / "lib")
    return root / "bin" / "python"


@pytest.fixture
def installed_from_venv(tmp_path: Path) -> Path:
    """A repository set up by the extid of a virtualenv at tmp_path/venv (one commit)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    python = fake_venv(tmp_path / "venv")
    for args in (["init"], ["install", "--no-hooks"]):
        ok(subprocess.run([python, "-m", "extid", *args], cwd=repo, capture_output=True, text=True))
    commit(repo, "extid")
    return repo


def test_doctor_names_hooks_whose_extid_is_gone(tmp_path: Path, installed_from_venv: Path) -> None:
    """The venv that installed the hooks is deleted and no extid is on PATH: every commit would
    fail, so doctor must not call the hooks ok, and the hook says what to do."""
    repo = installed_from_venv
    python = str(tmp_path / "venv" / "bin" / "python")
    ok(subprocess.run([python, "-m", "extid", "install"], cwd=repo, capture_output=True, text=True))
    shutil.rmtree(tmp_path / "venv")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no extid anywhere
    doctor = subprocess.run(
        [sys.executable, "-m", "extid", "doctor"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert doctor.returncode == 1
    assert doctor.stdout.count("can run extid (the extid that installed it is gone") == len(
        HOOK_NAMES
    )
    (repo / "notes.txt").write_text("unrelated\n")
    git(repo, "add", "notes.txt")
    proc = subprocess.run(
        ["git", "commit", "-q", "-m", "x"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 1
    assert f"cannot run extid ({python} is gone, none on PATH)" in proc.stderr
    assert "'extid install' with the extid you use" in proc.stderr


def diverge_cleanly(repo: Path) -> None:
    """`side` and `main` each allocate on another tool: adjacent lines (git's line merge
    conflicts), one right answer (the driver merges cleanly). `main` checked out."""
    git(repo, "checkout", "-q", "-b", "side")
    allocate(repo, "TASK-beef", "github")
    commit(repo, "side")
    git(repo, "checkout", "-q", "main")
    allocate(repo, "TASK-cafe", "linear", "TEAM")
    commit(repo, "main")


@pytest.mark.parametrize("gone", ["venv deleted", "package removed"])
def test_driver_that_cannot_run_leaves_both_sides_marked(
    tmp_path: Path, installed_from_venv: Path, gone: str
) -> None:
    repo = installed_from_venv
    diverge(repo)  # TASK-beef and TASK-cafe each take PROJ-1
    if gone == "venv deleted":
        shutil.rmtree(tmp_path / "venv")
    else:
        (tmp_path / "venv" / "lib").unlink()
        (tmp_path / "venv" / "lib").mkdir()
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no extid anywhere
    merge = subprocess.run(
        ["git", "merge", "side"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert merge.returncode == 1
    assert "cannot run extid" in merge.stdout + merge.stderr
    text = (repo / MAPPING).read_text()
    assert has_markers(repo / MAPPING) and "TASK-beef" in text and "TASK-cafe" in text
    # The counters file: both sides between markers where git's line merge conflicts; where it
    # does not (one side's stamp equal to the base's), the line merge's result, still unmerged
    # in the index until someone looks: a conflict either way, never one side alone.
    # Where both sides hold the same counters, git takes them without asking the driver.
    unmerged = git(repo, "ls-files", "-u", "--", COUNTERS).stdout
    same = git(repo, "diff", "--quiet", "HEAD", "side", "--", COUNTERS, check=False)
    assert has_markers(repo / COUNTERS) or unmerged or same.returncode == 0
    assert extid(repo, "check").returncode == 1


def test_driver_falls_back_to_extid_on_path(tmp_path: Path, installed_from_venv: Path) -> None:
    repo = installed_from_venv
    diverge_cleanly(repo)
    shutil.rmtree(tmp_path / "venv")
    merged = git(repo, "merge", "--no-edit", "side", check=False)  # extid on PATH (conftest)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    ok(extid(repo, "check"))


# --- item 5: uninstall ---------------------------------------------------------------------


def test_uninstall_undoes_install(here: Path, in_process: InProcess) -> None:
    (here / ".gitattributes").write_text("*.png binary\n")
    foreign = "#!/bin/sh\necho foreign\n"
    (here / ".git" / "hooks" / "post-merge").write_text(foreign)
    (here / ".git" / "hooks" / "post-merge").chmod(0o755)
    ok(in_process("install"))
    ok(in_process("init"))
    state = sorted((here / ".claude" / "state").iterdir())
    removed = ok(in_process("uninstall"))
    assert "removed merge.extid.* (local)" in removed.stdout
    assert git(here, "config", "--get-regexp", "^merge\\.extid", check=False).stdout == ""
    assert (here / ".gitattributes").read_text() == "*.png binary\n"
    assert (here / ".git" / "hooks" / "post-merge").read_text() == foreign
    for name in ("pre-commit", "post-rewrite", "post-merge.pre-extid"):
        assert not (here / ".git" / "hooks" / name).exists()
    assert sorted((here / ".claude" / "state").iterdir()) == state  # state and .gitignore kept
    again = ok(in_process("uninstall"))
    assert "nothing of extid's to remove" in again.stdout


# --- item 6: a remembered state directory -------------------------------------------------


def test_install_remembers_the_state_dir(here: Path, in_process: InProcess) -> None:
    ok(in_process("install", "--state-dir", "ids/state"))
    assert git(here, "config", "extid.stateDir").stdout.strip() == "ids/state"
    ok(in_process("init"))
    assert (here / "ids" / "state" / "external_id_mapping.json").exists()
    (here / "sub").mkdir()
    assert allocate(here / "sub", "TASK-abcd", "github") == "1"  # a subprocess, from below
    assert '"TASK-abcd"' in (here / "ids" / "state" / "external_id_mapping.json").read_text()
    assert not (here / ".claude").exists()
    doctor = in_process("doctor")
    assert doctor.returncode == 0, doctor.stdout
    (here / "ids" / "state" / "external_id_mapping.json").write_text("{")
    git(here, "add", "-A")
    refused = git(here, "commit", "-m", "broken", check=False)  # extid's pre-commit hook
    assert refused.returncode == 1
    assert "ids/state/external_id_mapping.json" in refused.stdout + refused.stderr


# --- items 13, 14: the tracked path, whatever its spelling ---------------------------------


def test_symlinked_claude_directory_gets_the_tracked_path(
    here: Path, in_process: InProcess
) -> None:
    (here / "config" / "claude").mkdir(parents=True)
    (here / ".claude").symlink_to("config/claude")
    ok(in_process("init"))
    ok(in_process("install"))
    real = "config/claude/state/external_id_mapping.json"
    assert f"{real} merge=extid" in (here / ".gitattributes").read_text().splitlines()
    assert git(here, "check-attr", "merge", "--", real).stdout.endswith("merge: extid\n")
    doctor = in_process("doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert f"{real}: merge=extid" in doctor.stdout
    commit(here, "extid")
    diverge_cleanly(here)
    merged = git(here, "merge", "--no-edit", "side", check=False)  # a line merge conflicts
    assert merged.returncode == 0, merged.stdout + merged.stderr
    ok(extid(here, "check"))


@pytest.mark.parametrize("directory", ["my ids/state", 'we*ird [1] "q"/state'])
def test_state_dir_with_a_space_gets_a_valid_pattern(
    here: Path, in_process: InProcess, directory: str
) -> None:
    mapping = f"{directory}/external_id_mapping.json"
    (here / ".gitattributes").write_text(f"{mapping} merge=extid\n")  # what 0.1 wrote
    for _ in range(2):
        ok(in_process("install", "--state-dir", directory))
    lines = (here / ".gitattributes").read_text().splitlines()
    assert len(lines) == 2 and all(line.endswith(" merge=extid") for line in lines)
    for path in (mapping, f"{directory}/external_id_counters.json"):
        attr = git(here, "check-attr", "merge", "--", path)
        assert attr.stdout.endswith("merge: extid\n") and attr.stderr == ""
    assert git(here, "check-attr", "merge", "--", "my/external_id_mapping.json").stdout.endswith(
        "unspecified\n"
    )
    ok(in_process("init"))
    doctor = in_process("doctor")
    assert doctor.returncode == 0, doctor.stdout


def test_uninstall_global_removes_the_global_driver(
    tmp_path: Path, in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not a work tree
    ok(in_process("install", "--global"))
    assert "merge-driver" in git(tmp_path, "config", "--global", "merge.extid.driver").stdout
    assert "removed merge.extid.* (global)" in ok(in_process("uninstall", "--global")).stdout
    assert git(tmp_path, "config", "--global", "merge.extid.driver", check=False).stdout == ""
    assert in_process("uninstall").returncode == 1  # without --global it needs a work tree
