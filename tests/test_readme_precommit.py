"""The README's pre-commit snippets as a user pastes them, with the real `pre-commit` and git:
the `repo: local` form stops a bad commit as pasted, and the remote form's `rev` is filled in by
`pre-commit autoupdate` (no network: the repository is a clone of this checkout)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import git, run_extid

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def snippets() -> list[str]:
    """The YAML blocks of the README's `## pre-commit` section, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## pre-commit\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)


def pre_commit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(autouse=True)
def _pre_commit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    monkeypatch.setenv("PRE_COMMIT_COLOR", "never")


def test_the_local_snippet_works_as_pasted(repo: Path) -> None:
    local = snippets()[0]
    assert "repo: local" in local
    (repo / ".pre-commit-config.yaml").write_text(local)
    installed = pre_commit(repo, "install")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    for hook in ("pre-commit", "pre-push", "post-merge", "post-rewrite"):
        assert (repo / ".git" / "hooks" / hook).exists()
    assert run_extid("allocate", "TASK-abcd", "github", cwd=repo).returncode == 0
    git(repo, "add", "-A")
    good = git(repo, "commit", "-m", "allocate", check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"extid check\.+Passed", good.stdout + good.stderr)

    counters = repo / ".claude" / "state" / "external_id_counters.json"
    counters.write_text(counters.read_text().replace('"github": 2', '"github": 1'))
    git(repo, "add", "-A")
    bad = git(repo, "commit", "-m", "lower the counter", check=False)
    assert bad.returncode != 0
    assert "counter 1 is at or below github 1" in bad.stdout + bad.stderr


def test_the_remote_snippet_s_rev_is_filled_by_autoupdate(tmp_path: Path, repo: Path) -> None:
    remote = snippets()[1]
    source = tmp_path / "extid-source"
    git(tmp_path, "clone", "-q", str(ROOT), str(source))
    head = git(source, "rev-parse", "HEAD").stdout.strip()
    tags = git(source, "tag", "--points-at", "HEAD").stdout.split()
    config = remote.replace("EXTID_REPO_URL", str(source))  # the one thing a user fills in
    (repo / ".pre-commit-config.yaml").write_text(config)
    updated = pre_commit(repo, "autoupdate")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    loaded = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())
    assert loaded["repos"][0]["rev"] in (head, *tags)  # the newest tag, else the commit
