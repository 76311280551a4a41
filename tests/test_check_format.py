"""`extid check` and `extid format` as a user (or pre-commit) runs them: real processes for the
hook command line itself, the store lock and FIFOs; main() in-process for the rest."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import InProcess, run_extid
from test_validate import COUNTERS, MAPPING

from extid.document import canonical
from extid.validate import SETTLE


def write_state(
    directory: Path, mapping: object = MAPPING, counters: object = COUNTERS
) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    m, c = directory / "external_id_mapping.json", directory / "external_id_counters.json"
    m.write_bytes(canonical(mapping))
    c.write_bytes(canonical(counters))
    return m, c


def test_check_valid_pair_is_silent(tmp_path: Path) -> None:
    m, c = write_state(tmp_path / "s")
    result = run_extid("check", str(m), str(c))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_check_without_files_uses_state_dir(tmp_path: Path) -> None:
    m, _ = write_state(tmp_path / "s")
    assert run_extid("--state-dir", str(tmp_path / "s"), "check").returncode == 0
    m.write_text("{")
    result = run_extid("--state-dir", str(tmp_path / "s"), "check")
    assert result.returncode == 1
    assert result.stdout.startswith(f"{m}: line 1 column 2: ")


def test_check_reports_every_problem_of_every_file(tmp_path: Path, in_process: InProcess) -> None:
    bad_mapping = json.loads(json.dumps(MAPPING))
    bad_mapping["mappings"]["TASK-a3f2"] = {"jira": "PROJ-456", "github": "#1"}
    m, c = write_state(tmp_path / "s", bad_mapping, {**COUNTERS, "version": "9.0"})
    other = tmp_path / "other.json"
    other.write_bytes(b'{"mappings": {}, "mappings": {}}')
    before = {p: p.read_bytes() for p in (m, c, other)}
    result = in_process("check", str(m), str(c), str(other))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines == [
        f'{m}: $.mappings.TASK-a3f2.github: "#1" is not a positive integer without leading zeros',
        f'{m}: $.mappings.TASK-a3f2.jira: jira PROJ-456 is also held by "TASK-E01-b2c4"' + SETTLE,
        f"{c}: format version 9.0 is newer than this extid understands (up to 1.0); upgrade extid"
        " - the file was not changed",
        f"{other}: line 1 column 18: duplicate key 'mappings'; " + HAND,
    ]
    assert "Traceback" not in result.stderr
    assert {p: p.read_bytes() for p in before} == before


MARKERS = ("<<<<<<<", "=======", ">>>>>>>")


def test_check_names_conflict_markers(tmp_path: Path, in_process: InProcess) -> None:
    m, _ = write_state(tmp_path / "s")
    m.write_text('{\n<<<<<<< ours\n  "a": 1\n=======\n  "a": 2\n>>>>>>> theirs\n}\n')
    result = in_process("check", str(m))
    assert result.stdout == (
        f"{m}: line 2: unresolved merge conflict (conflict marker); run `extid resolve` while "
        "git's merge is in progress; once committed, edit out the markers keeping both sides' "
        "entries (`extid repair --dry-run` shows what restoring the backup would lose)\n"
    )


def test_committed_conflict_markers_name_a_fix_that_works(tmp_path: Path) -> None:
    """A line merge committed with its markers (no driver, no hooks): `extid resolve` finds no
    merge to resolve and `extid repair` refuses a restore that loses the entries between the
    markers, so check names neither alone as the fix; taking the markers out does it."""
    from conftest import git
    from git_helpers import MAPPING as REL
    from git_helpers import allocate, commit, extid, setup_repo, without_hooks

    repo = setup_repo(tmp_path / "repo", install=False, hooks=False)
    allocate(repo, "TASK-aaaa", "jira", "PROJ")
    commit(repo, "a")
    git(repo, "checkout", "-q", "-b", "side")
    allocate(repo, "TASK-bbbb", "github")
    commit(repo, "b")
    git(repo, "checkout", "-q", "main")
    allocate(repo, "TASK-cccc", "linear", "TEAM")
    commit(repo, "c")
    without_hooks(repo, "merge", "-q", "side")
    assert without_hooks(repo, "commit", "-qam", "markers").returncode == 0
    before = (repo / REL).read_bytes()
    checked = extid(repo, "check")
    assert checked.returncode == 1 and "edit out the markers" in checked.stdout
    assert "else `extid repair`" not in checked.stdout
    assert extid(repo, "resolve").stdout == "extid: no conflicted state files to resolve\n"
    assert extid(repo, "repair").returncode == 1  # it would lose TASK-bbbb or TASK-cccc
    assert (repo / REL).read_bytes() == before
    kept = [line for line in before.decode().splitlines(True) if line[:7] not in MARKERS]
    (repo / REL).write_text("".join(kept).replace('"TEAM-1"\n', '"TEAM-1"\n    },\n'))
    ok = extid(repo, "check")
    assert ok.returncode == 0, ok.stdout


def test_format_fixes_then_passes(tmp_path: Path, in_process: InProcess) -> None:
    m, _ = write_state(tmp_path / "s")
    m.write_text(json.dumps(MAPPING))  # compact, unsorted-safe, no final newline
    m.chmod(0o640)
    result = in_process("format", str(m))
    assert (result.returncode, result.stdout) == (1, f"Fixing {m}\n")
    assert m.read_bytes() == canonical(MAPPING)
    assert m.stat().st_mode & 0o777 == 0o640
    again = in_process("format", str(m))
    assert (again.returncode, again.stdout) == (0, "")


def test_format_check_shows_diff_and_writes_nothing(tmp_path: Path, in_process: InProcess) -> None:
    m, _ = write_state(tmp_path / "s")
    data = canonical(MAPPING).rstrip(b"\n")
    m.write_bytes(data)
    result = in_process("format", "--check", str(m))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{m}: not in canonical form (run `extid format`)\n--- ")
    assert "\\ No newline at end of file" in result.stdout
    assert m.read_bytes() == data


HAND = "edit it by hand: it parses, so `extid repair` leaves it to you"


def test_format_never_rewrites_what_it_cannot_parse(tmp_path: Path, in_process: InProcess) -> None:
    m, c = write_state(tmp_path / "s")
    m.write_bytes(b'{"mappings": {}, "mappings": {"TASK-a3f2": {}}, "version": "1.0"}')
    c.write_bytes(json.dumps({**COUNTERS, "version": "2.0"}).encode())
    before = {p: p.read_bytes() for p in (m, c)}
    result = in_process("format", str(m), str(c))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{m}: line 1 column 18: duplicate key 'mappings'; {HAND} (not rewritten)",
        f"{c}: format version 2.0 is newer than this extid understands (up to 1.0); upgrade extid"
        " - the file was not changed (not rewritten)",
    ]
    assert {p: p.read_bytes() for p in before} == before


def test_user_error_is_one_line_without_traceback(tmp_path: Path, in_process: InProcess) -> None:
    result = in_process("check", str(tmp_path / "missing.json"))
    assert result.returncode == 1
    assert result.stdout == f"{tmp_path / 'missing.json'}: No such file or directory\n"


def test_format_rewrites_a_state_file_under_the_store_lock(tmp_path: Path) -> None:
    """A concurrent `allocate` must not be undone by format's read-then-write."""
    import os

    from extid import Store

    state = tmp_path / "s"
    m, _ = write_state(state)
    m.write_text(json.dumps(MAPPING))
    before = m.read_bytes()
    env = {**os.environ, "EXTID_LOCK_TIMEOUT": "0.2"}
    with Store(state).lock():
        result = run_extid("--state-dir", str(state), "format", str(m), env=env)
    assert result.returncode == 1
    assert str(state / ".extid.lock") in result.stdout
    assert result.stdout.rstrip().endswith("(not rewritten)")
    assert m.read_bytes() == before
    fixed = run_extid("--state-dir", str(state), "format", str(m))
    assert (fixed.returncode, fixed.stdout) == (1, f"Fixing {m}\n")


def test_a_directory_or_fifo_is_refused_by_name_without_hanging(tmp_path: Path) -> None:
    """pre-commit passes regular files, but a user may type any path: a FIFO must not block
    the open, a directory must not end in a traceback."""
    fifo = tmp_path / "external_id_mapping.json"
    os.mkfifo(fifo)
    directory = tmp_path / "a-directory"
    directory.mkdir()
    for command in (["check"], ["format", "--check"], ["format"]):
        result = run_extid(*command, str(fifo), str(directory))
        assert result.returncode == 1, command
        suffix = " (not rewritten)" if command[0] == "format" else ""
        assert result.stdout.splitlines() == [
            f"{fifo}: is not a regular file, not a state file; rename or remove it, then "
            f"`git checkout -- {fifo.name}` there restores the committed file{suffix}",
            f"{directory}: is a directory, not a state file; rename or remove it, then "
            f"`git checkout -- {directory.name}` there restores the committed file{suffix}",
        ], command
        assert result.stderr == ""
