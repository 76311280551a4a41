"""`--json` of `check`, `doctor` and `reverse`: one JSON document on stdout, in the shape of
check-jsonschema's `--output-format json` where it applies (`status`, `successes`, `errors` with
`filename`/`path`/`message`, `parse_errors`), the same findings and exit codes as the text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import InProcess, git
from git_helpers import COUNTERS, MAPPING, setup_repo


def _json(result: Any) -> Any:
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess) -> Path:
    """A repository (current directory) whose registry holds TASK-beef = jira PROJ-1."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    monkeypatch.chdir(repo)
    assert in_process("allocate", "TASK-beef", "jira", "--project", "PROJ").stdout == "PROJ-1\n"
    return repo


def test_check_json_of_sound_files(registry: Path, in_process: InProcess) -> None:
    result = in_process("check", "--json")
    assert result.returncode == 0
    assert _json(result) == {
        "status": "ok",
        "successes": [str(registry / MAPPING), str(registry / COUNTERS)],
        "errors": [],
        "parse_errors": [],
    }


def test_check_json_reports_what_the_text_reports(registry: Path, in_process: InProcess) -> None:
    wrong = registry / "wrong.json"
    wrong.write_text((registry / MAPPING).read_text().replace('"PROJ-1"', "5"))
    torn = registry / "torn.json"
    torn.write_text('{"mappings": ')
    counters = json.loads((registry / COUNTERS).read_text())
    counters["counters"]["jira"]["PROJ"] = 1  # at or below PROJ-1, which is used
    (registry / COUNTERS).write_text(json.dumps(counters, indent=2, sort_keys=True) + "\n")
    files = [MAPPING, "wrong.json", "torn.json", "missing.json"]
    before = {
        p: p.read_bytes() for p in registry.rglob("*") if p.is_file() and ".git" not in p.parts
    }
    text, result = in_process("check", *files), in_process("check", "--json", *files)
    assert (text.returncode, result.returncode) == (1, 1)
    report = _json(result)
    assert report["status"] == "fail"
    assert report["successes"] == [MAPPING]  # the pair's problem is the counters file's
    assert report["errors"][0] | {"message": ""} == {
        "filename": "wrong.json",
        "path": "$.mappings.TASK-beef.jira",
        "message": "",
        "has_sub_errors": False,
    }
    assert "not a jira ID" in report["errors"][0]["message"]
    assert any(
        e["filename"] == COUNTERS and "already used" in e["message"] for e in report["errors"]
    ), report["errors"]
    assert report["parse_errors"] == [
        {
            "filename": "torn.json",
            "path": "line 1 column 14",
            "message": "expecting value; run `extid repair` to restore it from its backup or git",
        },
        {"filename": "missing.json", "message": "No such file or directory"},
    ]
    shown = [f"{e['filename']}: {e['path']}: {e['message']}" for e in report["errors"]]
    shown += [
        ": ".join(v for k, v in e.items() if k in ("filename", "path", "message"))
        for e in report["parse_errors"]
    ]
    assert sorted(shown) == sorted(text.stdout.splitlines())
    after = {
        p: p.read_bytes() for p in registry.rglob("*") if p.is_file() and ".git" not in p.parts
    }
    assert after == before


def test_doctor_json_lists_each_finding_with_its_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    monkeypatch.chdir(repo)
    text, result = in_process("doctor"), in_process("doctor", "--json")
    assert (text.returncode, result.returncode) == (1, 1)
    report = _json(result)
    assert report["status"] == "fail"
    assert {"message": "merge driver (merge.extid.driver)", "fix": "extid install"} in report[
        "errors"
    ]
    assert all(set(e) == {"message", "fix"} for e in report["errors"])
    assert f"{len(report['errors'])} thing(s) to fix" in text.stdout
    assert text.stdout.count("MISSING  ") == len(report["errors"])
    assert text.stdout.count("ok       ") == len(report["successes"])


def test_doctor_json_of_a_clone_set_up_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess
) -> None:
    repo = setup_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    result = in_process("doctor", "--json")
    report = _json(result)
    assert (result.returncode, report["status"], report["errors"]) == (0, "ok", []), report
    assert any("merge driver configured" in s for s in report["successes"])


def test_doctor_json_outside_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: InProcess
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    result = in_process("doctor", "--json")
    assert result.returncode == 1
    assert _json(result) == {
        "status": "fail",
        "successes": [],
        "errors": [
            {"message": "a git work tree", "fix": "run extid inside your repository's clone"}
        ],
    }


def test_reverse_json_prints_the_holders_entry(registry: Path, in_process: InProcess) -> None:
    result = in_process("reverse", "jira", "proj-1", "--json")
    assert result.returncode == 0
    entry = _json(result)
    assert entry == _json(in_process("lookup", "TASK-beef", "--json"))
    assert (entry["id"], entry["jira"]) == ("TASK-beef", "PROJ-1")
    missing = in_process("reverse", "jira", "PROJ-2", "--json")
    assert (missing.returncode, _json(missing)) == (1, {})
    assert missing.stderr == "extid: no task holds jira PROJ-2\n"


def test_allocate_json_says_whether_the_number_is_new(
    registry: Path, in_process: InProcess
) -> None:
    """A script that opens the ticket acts only on "new": the task's existing ID is not new."""
    first = _json(in_process("allocate", "task-cafe", "jira", "--project", "PROJ", "--json"))
    assert first == {"id": "TASK-cafe", "tool": "jira", "external_id": "PROJ-2", "new": True}
    again = _json(in_process("allocate", "TASK-cafe", "jira", "--project", "PROJ", "--json"))
    assert again == {**first, "new": False}
    assert (
        _json(in_process("allocate", "TASK-beef", "jira", "--project", "PROJ", "--json"))["new"]
        is False
    )


@pytest.mark.parametrize("backup", ["sound", "broken"])
def test_doctor_json_gives_a_corrupt_file_its_fix(
    registry: Path, in_process: InProcess, backup: str
) -> None:
    """The fix was only at the end of the line ("fix": ""): it is the finding's fix now, and
    where `extid repair` would refuse (the restore would lose something: the backup is broken
    too) it is `extid repair --dry-run`, not `extid repair` alone."""
    mapping = registry / MAPPING
    bak = mapping.with_name(mapping.name + ".bak")
    bak.write_bytes(mapping.read_bytes() if backup == "sound" else b'{"mappings": {')
    mapping.write_bytes(mapping.read_bytes()[:30])
    before = {p: p.read_bytes() for p in mapping.parent.iterdir() if p.is_file()}
    text, report = in_process("doctor"), _json(in_process("doctor", "--json"))
    found = next(e for e in report["errors"] if str(mapping) in e["message"])
    assert "extid repair" not in found["message"]
    if backup == "sound":
        assert found["fix"] == "run `extid repair` to restore it from its backup or git"
        assert in_process("repair").returncode == 0
    else:
        assert found["fix"].startswith("run `extid repair --dry-run`: restoring it would lose")
        assert f"         fix: {found['fix']}\n" in text.stdout
        assert {p: p.read_bytes() for p in mapping.parent.iterdir() if p.is_file()} == before
        assert in_process("repair").returncode == 1  # and repair indeed refuses


def test_repair_accept_loss_says_each_loss_once(registry: Path, in_process: InProcess) -> None:
    """repair printed what recovery did as its actions and, again, as warnings on stderr."""
    mapping = registry / MAPPING
    mapping.with_name(mapping.name + ".bak").write_bytes(b'{"mappings": {')
    mapping.write_bytes(mapping.read_bytes()[:30])
    result = in_process("repair", "--accept-loss")
    assert result.returncode == 0, result.stderr
    lost = [line for line in result.stdout.splitlines() if line.startswith("lost ")]
    assert lost and all(line not in result.stderr for line in lost), result.stderr
    assert "was corrupt" in result.stdout and "was corrupt" not in result.stderr
