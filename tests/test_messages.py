"""What the user reads: one line for every user error (never a traceback or a "bug"), a word
while waiting for another process's lock, usage errors with the command's own usage and exit 2,
and messages that say what is really wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import InProcess, run_extid, uncovered_env

MAPPING = "external_id_mapping.json"


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """name -> bytes (None for a directory) of everything in `directory`."""
    return {p.name: None if p.is_dir() else p.read_bytes() for p in sorted(directory.iterdir())}


# --- no traceback, no "bug" ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("lookup", "TASK-abcd"),
        ("allocate", "TASK-abcd", "github"),
        ("repair",),
        ("migrate",),
    ],
)
def test_a_directory_where_the_mapping_file_belongs_is_one_line(
    state_dir: Path, in_process: InProcess, args: tuple[str, ...]
) -> None:
    assert (
        in_process("--state-dir", str(state_dir), "allocate", "TASK-abcd", "github").returncode == 0
    )
    (state_dir / MAPPING).unlink()
    (state_dir / MAPPING).mkdir()
    before = snapshot(state_dir)
    result = in_process("--state-dir", str(state_dir), *args)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "bug" not in result.stderr
    assert f"{state_dir / MAPPING}: is a directory, not a state file" in result.stderr
    assert "rename or remove it" in result.stderr
    assert snapshot(state_dir) == before


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_device_behind_stdout_is_one_line(repo: Path) -> None:
    """`extid list > /dev/full`: the output cannot be written; that is no bug in extid."""
    assert run_extid("allocate", "TASK-abcd", "github", cwd=repo).returncode == 0
    exe = Path(sys.executable).parent / "extid"
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [str(exe), "list"], cwd=repo, stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert proc.returncode == 1
    assert proc.stderr == "extid: error: cannot write the output (No space left on device)\n"


@pytest.mark.parametrize(
    "args",
    [
        ("install",),
        ("list",),
        ("check",),
        ("lookup", "TASK-abcd"),
        ("allocate", "TASK-abcd", "github"),
        ("repair",),
        ("format", "--check"),
    ],
)
def test_a_file_where_the_state_directory_belongs_is_one_line(
    repo: Path, in_process: InProcess, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    """Every command, readers included, says it once (`list` said two lines, `check` nothing
    and exit 0)."""
    monkeypatch.chdir(repo)
    (repo / ".claude").mkdir()
    state = repo / ".claude" / "state"
    state.write_text("not a directory\n")
    result = in_process(*args)
    assert result.returncode == 1 and "bug" not in result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert f"{state}: is not a directory" in result.stderr
    assert "rename or remove it" in result.stderr
    assert state.read_text() == "not a directory\n"


def test_doctor_names_a_file_where_the_state_directory_belongs(
    repo: Path, in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    (repo / ".claude").write_text("a file\n")  # the parent in the way this time
    result = in_process("doctor")
    assert result.returncode == 1
    wanted = f"MISSING  {repo / '.claude'}: is not a directory, and extid keeps its state files in"
    assert wanted in result.stdout
    assert (repo / ".claude").read_text() == "a file\n"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"a": "abc', "line 1 column 7: unterminated string starting here; run `extid repair`"),
        ('{"a": 1,}', "line 1 column 9: expecting property name enclosed in double quotes; run"),
        ('{"a": 1} x', "line 1 column 10: extra data; run `extid repair`"),
        ('{"a": 1, "a": 2}', "line 1 column 10: duplicate key 'a'; edit it by hand: it parses"),
    ],
)
def test_check_says_what_is_wrong_with_the_bytes_and_the_fix(
    tmp_path: Path, in_process: InProcess, text: str, said: str
) -> None:
    """The json module's "Unterminated string starting at" was cut where its position would
    follow, and no fix was named."""
    path = tmp_path / MAPPING
    path.write_text(text)
    result = in_process("check", str(path))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{path}: {said}"), result.stdout
    assert result.stdout.count("\n") == 1
    assert path.read_text() == text


@pytest.mark.parametrize("broken", ["directory", "huge number"])
def test_doctor_names_the_fix_repair_would_give_not_repair(
    repo: Path, in_process: InProcess, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    """doctor said `extid check / extid repair` for everything, and repair refuses both."""
    monkeypatch.chdir(repo)
    assert in_process("allocate", "TASK-abcd", "jira", "--project", "PROJ").returncode == 0
    counters = repo / ".claude" / "state" / "external_id_counters.json"
    if broken == "directory":
        counters.unlink()
        counters.mkdir()
        wanted = f"{counters}: is a directory, not a state file\n         fix: rename or remove it"
    else:
        counters.write_text(counters.read_text().replace('"PROJ": 2', '"PROJ": ' + "9" * 30))
        wanted = "integer with 30 digits is out of range\n         fix: edit it by hand"
    doctor = in_process("doctor")
    lines = doctor.stdout.splitlines()
    at = next(i for i, x in enumerate(lines) if str(counters) in x)
    line = "\n".join(lines[at : at + 2])  # the problem, then its fix on a line of its own
    assert wanted in line, doctor.stdout
    assert "extid repair" not in doctor.stdout.replace("`extid repair` leaves it to you", "")
    assert in_process("repair").returncode == 1  # and repair indeed refuses


@pytest.mark.parametrize("command", ["list", "doctor"])
def test_a_closed_pipe_exits_141_silently(repo: Path, command: str) -> None:
    """`extid list | head -1`: the reader is gone before extid writes."""
    assert run_extid("allocate", "TASK-abcd", "github", cwd=repo).returncode == 0
    exe = Path(sys.executable).parent / "extid"
    child = subprocess.Popen(
        [str(exe), command], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    err = child.stderr.read()
    assert (child.wait(timeout=60), err) == (141, b"")


def test_merge_driver_with_missing_inputs_is_one_line(
    tmp_path: Path, in_process: InProcess
) -> None:
    ours = tmp_path / "ours.json"
    ours.write_text("{}\n")
    for args, missing in (
        (["base", str(ours), "nope-theirs"], "THEIRS (%B) file 'nope-theirs'"),
        (["base", "nope-ours", str(ours)], "OURS (%A) file 'nope-ours'"),
    ):
        result = in_process("merge-driver", *args, "x.json")
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "bug" not in result.stderr
        assert (
            missing in result.stderr
            and "cannot be read (No such file or directory)" in result.stderr
        )
        assert "extid install" in result.stderr
    assert ours.read_text() == "{}\n"


# --- waiting for the lock -------------------------------------------------------------------


def test_waiting_for_another_process_s_lock_is_said_once(state_dir: Path) -> None:
    """A real second process holds the lock for 3 s: after about a second extid says who it
    waits for and for how long at most, then takes the lock and succeeds."""
    state_dir.mkdir()
    lock = state_dir / ".extid.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock\n"
            f"lock = FileLock({str(lock)!r}); lock.acquire()\n"
            "print('held', flush=True); time.sleep(3); lock.release()",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=uncovered_env(),
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    env = {**os.environ, "EXTID_LOCK_TIMEOUT": "10"}
    started = time.monotonic()
    result = run_extid("--state-dir", str(state_dir), "allocate", "TASK-abcd", "github", env=env)
    took = time.monotonic() - started
    holder.wait(timeout=30)
    assert (result.returncode, result.stdout) == (0, "1\n")
    assert took >= 2  # it did wait for the holder
    assert result.stderr == (
        f"extid: another extid process holds {lock}; waiting for it (at most 40s more, "
        "see EXTID_LOCK_TIMEOUT)\n"
    )


# --- small ones -------------------------------------------------------------------------------


def test_merge_driver_help_shows_git_s_placeholders(in_process: InProcess) -> None:
    for args in (["merge-driver", "--help"], ["--help"]):
        out = " ".join(in_process(*args).stdout.split())  # argparse wraps lines
        assert "%O %A %B %P" in out and "%%" not in out


def test_remove_names_the_tool_without_a_stray_article(
    state_dir: Path, in_process: InProcess
) -> None:
    in_process("--state-dir", str(state_dir), "allocate", "TASK-abcd", "github")
    result = in_process("--state-dir", str(state_dir), "remove", "TASK-abcd", "linear")
    assert result.returncode == 1
    assert result.stderr == "extid: error: TASK-abcd has no linear ID to remove\n"


@pytest.mark.parametrize(
    ("tool", "value"), [("github", "12345678901234567890"), ("jira", "PROJ-12345678901234567890")]
)
def test_a_number_too_long_is_beyond_the_limit_not_a_non_integer(
    state_dir: Path, in_process: InProcess, tool: str, value: str
) -> None:
    result = in_process("--state-dir", str(state_dir), "record", "TASK-abcd", tool, value)
    assert result.returncode == 2
    assert "is beyond the limit (numbers stay below 2**53)" in result.stderr
    assert "not a positive integer" not in result.stderr and not state_dir.exists()


def test_a_bad_new_id_prefix_is_a_usage_error(state_dir: Path, in_process: InProcess) -> None:
    result = in_process("--state-dir", str(state_dir), "new-id", "--prefix", "x y")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: extid new-id")
    assert "argument --prefix: 'x y' must be 2-4 letters or digits" in result.stderr


def test_an_extra_argument_shows_the_command_s_usage(in_process: InProcess) -> None:
    result = in_process("lookup", "TASK-abcd", "extra")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: extid lookup")
    assert "extid lookup: error: unrecognized arguments: extra" in result.stderr


def test_the_id_grammar_error_says_the_hash_is_hexadecimal(in_process: InProcess) -> None:
    result = in_process("lookup", "TASK-wxyz")
    assert result.returncode == 2
    assert "HASH 4-6 hexadecimal digits" in result.stderr


@pytest.mark.parametrize("before", [True, False])
def test_an_empty_state_dir_is_refused(tmp_path: Path, in_process: InProcess, before: bool) -> None:
    args = ["--state-dir", "", "list"] if before else ["list", "--state-dir", ""]
    result = in_process(*args)
    assert result.returncode == 2
    assert "argument --state-dir: must not be empty" in result.stderr
    assert not (tmp_path / ".claude").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("allocate", "TASK-1", "github"),
        ("allocate", "TASK-abcd", "jira"),
        ("record", "TASK-1", "github", "7"),
        ("record", "TASK-abcd", "github", "x7"),
        ("remove", "TASK-1"),
    ],
)
def test_an_invalid_call_touches_no_file(
    state_dir: Path, in_process: InProcess, args: tuple[str, ...]
) -> None:
    result = in_process("--state-dir", str(state_dir), *args)
    assert result.returncode == 2
    assert not state_dir.exists()  # not even the lock file


def test_list_without_a_registry_says_so(state_dir: Path, in_process: InProcess) -> None:
    """An empty answer with exit 0, as `git tag -l` or `git stash list`, plus a line on stderr
    so that a look in the wrong place is noticed."""
    for json_args, out in (([], ""), (["--json"], "{}\n")):
        result = in_process("--state-dir", str(state_dir), "list", *json_args)
        assert (result.returncode, result.stdout) == (0, out)
        assert result.stderr == (
            f"extid: no registry yet in {state_dir} (the first `extid allocate` or "
            "`extid init` creates it)\n"
        )
    in_process("--state-dir", str(state_dir), "init")
    assert in_process("--state-dir", str(state_dir), "list").stderr == ""


def test_lookup_shows_created_as_json_does(state_dir: Path, in_process: InProcess) -> None:
    in_process("--state-dir", str(state_dir), "allocate", "TASK-abcd", "github")
    created = in_process("--state-dir", str(state_dir), "lookup", "TASK-abcd", "--json")
    stamp = __import__("json").loads(created.stdout)["created"]
    assert in_process("--state-dir", str(state_dir), "lookup", "TASK-abcd").stdout == (
        f"github: 1\ncreated: {stamp}\n"
    )
