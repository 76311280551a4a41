"""What the hooks' command lines import (start-up is most of a hook's cost on a small file):
checked on `sys.modules` in a fresh interpreter, not by timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import uncovered_env

DOC = {
    "mappings": {"TASK-ab12": {"created": "2025-01-08T10:00:00Z", "jira": "PROJ-1"}},
    "updated": "2025-01-08T10:30:00Z",
    "version": "1.0",
}
COUNTERS = {"counters": {"jira": {"PROJ": 2}}, "updated": "2025-01-08T10:30:00Z", "version": "1.0"}

#: Heavy or unneeded on every hook path: the store and git layers, jsonschema, orjson (small
#: files use the stdlib json), argparse (the hooks' command lines are parsed without it).
NEVER = ("argparse", "orjson", "jsonschema", "git", "filelock", "extid.store", "extid.git")


def _canonical(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _imports(argv: list[str], cwd: Path | None = None) -> tuple[int, set[str]]:
    """Exit code of `extid ARGV` run in a fresh interpreter, and the modules it imported."""
    code = (
        "import sys\nbefore = set(sys.modules)\nfrom extid.main import main\n"
        f"try:\n    rc = main({argv!r})\nexcept SystemExit as e:\n    rc = e.code\n"
        "print()\nprint(rc, *sorted(set(sys.modules) - before))"
    )
    # Without coverage in the child: it would have imported much of this before main.
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=uncovered_env(),
        cwd=cwd,
    )
    rc, *modules = out.stdout.splitlines()[-1].split()
    return int(rc), set(modules)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    (tmp_path / "external_id_mapping.json").write_text(_canonical(DOC))
    (tmp_path / "external_id_counters.json").write_text(_canonical(COUNTERS))
    return tmp_path


def test_format_check_imports_only_the_document_layer(state: Path) -> None:
    rc, modules = _imports(["format", "--check", str(state / "external_id_mapping.json")])
    assert rc == 0
    assert not modules & {*NEVER, "typing", "extid.validate"}


def test_check_imports_no_heavy_module(state: Path) -> None:
    rc, modules = _imports(["check", str(state / "external_id_mapping.json")])
    assert rc == 0
    assert "extid.validate" in modules  # the test sees what check imports
    assert not modules & {*NEVER, "typing"}


def test_replay_hook_outside_a_rebase_reads_two_files_and_exits(tmp_path: Path) -> None:
    """The prepare-commit-msg hook runs before every commit message: outside a stopped rebase
    it reads the git directory and exits, without git, argparse or the check itself."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    rc, modules = _imports(["check", "--staged", "--replaying"], cwd=tmp_path)
    assert rc == 0
    assert "extid.gitstate" in modules  # the test sees what the hook imports
    assert not modules & {*NEVER, "typing", "extid.gitcheck", "extid.validate"}


def test_version_imports_no_document_layer() -> None:
    rc, modules = _imports(["--version"])
    assert rc == 0
    assert not modules & {*NEVER, "typing", "extid.document"}


@pytest.mark.parametrize("theirs_jira", ["PROJ-1", "PROJ-9"])  # clean, and a field conflict
def test_merge_driver_imports_no_heavy_module(tmp_path: Path, theirs_jira: str) -> None:
    """git runs the driver once per conflicted state file: the store, git, orjson and
    jsonschema stay out of it on a small file (argparse is the driver's own command line)."""
    ours = json.loads(json.dumps(DOC))
    ours["mappings"]["TASK-ab13"] = {"jira": "PROJ-2"}
    ours["mappings"]["TASK-ab12"]["jira"] = "PROJ-8" if theirs_jira == "PROJ-9" else "PROJ-1"
    theirs = json.loads(json.dumps(DOC))
    theirs["mappings"]["TASK-ab12"]["jira"] = theirs_jira
    for name, doc in (("base", DOC), ("ours", ours), ("theirs", theirs)):
        (tmp_path / name).write_text(_canonical(doc))
    rc, modules = _imports(
        ["merge-driver", *(str(tmp_path / n) for n in ("base", "ours", "theirs"))]
    )
    assert rc == (1 if theirs_jira == "PROJ-9" else 0)
    assert "extid.merge.render" in modules  # the test sees what the driver imports
    assert not modules & set(NEVER) - {"argparse"}
