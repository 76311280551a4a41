"""Where the state directory is (`extid.store.locate`): the order of the settings, the git
toplevel, and settings that would lead outside the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

from extid.errors import (
    UnsafePathError,
)
from extid.store import Store, locate


def test_state_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert locate.resolve_state_dir() == tmp_path / ".claude" / "state"
    (tmp_path / "repo" / "sub").mkdir(parents=True)
    git(tmp_path / "repo", "init", "-q")
    monkeypatch.chdir(tmp_path / "repo" / "sub")
    assert locate.resolve_state_dir() == tmp_path / "repo" / ".claude" / "state"
    monkeypatch.setenv("EXTID_STATE_DIR", "env-state")
    assert locate.resolve_state_dir() == tmp_path / "repo" / "sub" / "env-state"
    assert locate.resolve_state_dir("../cli") == tmp_path / "repo" / "cli"
    assert Store().state_dir == tmp_path / "repo" / "sub" / "env-state"


def test_git_file_marks_a_toplevel_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A linked worktree: `.git` is a file naming the git directory."""
    git(tmp_path, "init", "-q", "-b", "main", "main")
    git(tmp_path / "main", "commit", "-q", "--allow-empty", "-m", "root")
    git(tmp_path / "main", "worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"))
    assert (tmp_path / "wt" / ".git").is_file()
    monkeypatch.chdir(tmp_path / "wt")
    assert locate.resolve_state_dir() == tmp_path / "wt" / ".claude" / "state"


@pytest.mark.parametrize("setting", ["../outside", "/", "a/../../outside", "x\x00y"])
def test_unsafe_state_dir_settings_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    (tmp_path / "repo").mkdir()
    git(tmp_path / "repo", "init", "-q")
    monkeypatch.chdir(tmp_path / "repo")
    with pytest.raises(UnsafePathError):
        locate.resolve_state_dir(setting)
    if "\x00" in setting:
        return  # an environment variable cannot hold a NUL
    monkeypatch.setenv("EXTID_STATE_DIR", setting)
    with pytest.raises(UnsafePathError):
        locate.resolve_state_dir()


def test_symlink_inside_repo_pointing_out_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "repo").mkdir()
    git(tmp_path / "repo", "init", "-q")
    (tmp_path / "out").mkdir()
    (tmp_path / "repo" / "link").symlink_to(tmp_path / "out")
    monkeypatch.chdir(tmp_path / "repo")
    with pytest.raises(UnsafePathError, match="outside the git repository"):
        locate.resolve_state_dir("link/state")
    assert locate.resolve_state_dir("inside/state") == tmp_path / "repo" / "inside" / "state"


def test_resolving_the_state_dir_does_not_import_gitpython(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    code = (
        "import sys, extid.store as s; s.Store().load(); "
        "print('git' in sys.modules, 'jsonschema' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


def test_python_callers_name_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The repository check guards what users set; a program's explicit path is its own."""
    (tmp_path / "repo").mkdir()
    git(tmp_path / "repo", "init", "-q")
    monkeypatch.chdir(tmp_path / "repo")
    assert Store(tmp_path / "elsewhere").state_dir == tmp_path / "elsewhere"
    assert Store("rel").state_dir == tmp_path / "repo" / "rel"
    with pytest.raises(UnsafePathError):
        Store("a\x00b")
    monkeypatch.setenv("EXTID_STATE_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(UnsafePathError):
        Store()
