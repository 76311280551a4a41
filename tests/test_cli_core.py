"""The core commands as users run them: the real `extid` executable in a subprocess where git,
the environment or a second process matters, main() in-process where nothing does."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import InProcess, run_extid
from store_helpers import (
    COUNTERS_FILE,
    GUARDKIT,
    MAPPING,
    MAPPING_FILE,
    committed_repo,
    sample,
    snapshot,
    write_state,
)

from extid.ids import is_internal_id


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def extid_in(state_dir: Path, *args: str) -> tuple[int, str, str]:
    """The real `extid` executable, as users and git run it."""
    result = run_extid("--state-dir", str(state_dir), *args)
    return result.returncode, result.stdout, result.stderr


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def here(state_dir: Path, in_process: InProcess) -> Cli:
    """`extid --state-dir STATE ARGS...` through main() in this process."""

    def run(*args: str) -> tuple[int, str, str]:
        result = in_process("--state-dir", str(state_dir), *args)
        return result.returncode, result.stdout, result.stderr

    return run


def test_init_allocate_lookup_reverse_list(state_dir: Path) -> None:
    rc, out, _ = extid_in(state_dir, "init")
    assert rc == 0 and "ready" in out
    assert (state_dir / ".gitignore").exists()
    assert extid_in(state_dir, "allocate", "TASK-E01-b2c4", "jira", "--project", "PROJ") == (
        0,
        "PROJ-1\n",
        "",
    )
    assert extid_in(state_dir, "allocate", "TASK-E01-B2C4", "jira", "--project", "PROJ")[1] == (
        "PROJ-1\n"
    )
    assert extid_in(state_dir, "allocate", "TASK-a3f2", "github")[1] == "1\n"
    assert extid_in(state_dir, "record", "TASK-a3f2", "linear", "team-7")[1] == "TEAM-7\n"
    rc, out, err = extid_in(state_dir, "lookup", "task-a3f2")
    assert (rc, err) == (0, "") and re.fullmatch(r"github: 1\nlinear: TEAM-7\ncreated: \S+Z\n", out)
    rc, out, _ = extid_in(state_dir, "lookup", "TASK-a3f2", "--json")
    entry = json.loads(out)
    assert entry["id"] == "TASK-a3f2" and entry["linear"] == "TEAM-7" and "created" in entry
    assert extid_in(state_dir, "reverse", "github", "#1") == (0, "TASK-a3f2\n", "")
    assert extid_in(state_dir, "reverse", "jira", "proj-1")[1] == "TASK-E01-b2c4\n"
    rc, out, err = extid_in(state_dir, "reverse", "jira", "PROJ-2")
    assert (rc, out) == (1, "") and "no task holds" in err
    rc, out, _ = extid_in(state_dir, "list")
    assert out.splitlines() == ["TASK-a3f2  github=1 linear=TEAM-7", "TASK-E01-b2c4  jira=PROJ-1"]
    rc, out, _ = extid_in(state_dir, "list", "--json")
    assert set(json.loads(out)) == {"TASK-a3f2", "TASK-E01-b2c4"}


def test_lookup_of_unknown_task_exits_1(state_dir: Path, here: Cli) -> None:
    rc, out, err = here("lookup", "TASK-ffff")
    assert (rc, out) == (1, "") and "TASK-ffff has no external IDs" in err
    rc, out, _ = here("lookup", "TASK-ffff", "--json")
    assert (rc, json.loads(out)) == (1, {})


def test_remove(state_dir: Path, here: Cli) -> None:
    write_state(state_dir)
    assert here("remove", "TASK-E01-b2c4", "github") == (
        0,
        "removed github 234\n",
        "",
    )
    rc, out, _ = here("remove", "TASK-E01-b2c4")
    assert rc == 0 and "removed jira PROJ-456" in out
    rc, _, err = here("remove", "TASK-E01-b2c4")
    assert rc == 1 and err == "extid: error: TASK-E01-b2c4 has no external IDs to remove\n"
    assert here("allocate", "TASK-a3f2", "github")[1] == "235\n"


def test_new_id_is_fresh_and_follows_the_grammar(state_dir: Path, here: Cli) -> None:
    write_state(state_dir)
    seen = set()
    for args in ([], ["--prefix", "e01"], ["--kind", "EPIC"], ["--kind", "DOC", "--prefix", "AB"]):
        rc, out, _ = here("new-id", *args)
        new = out.strip()
        assert rc == 0 and is_internal_id(new) and new.upper() != "TASK-E01-B2C4"
        seen.add(new)
    assert any(s.startswith("TASK-E01-") for s in seen)
    assert any(s.startswith("EPIC-") for s in seen) and any(s.startswith("DOC-AB-") for s in seen)
    rc, _, err = here("new-id", "--prefix", "TOOLONG")
    assert rc == 2 and "--prefix" in err  # a usage error, as every other
    assert not (state_dir / ".extid.lock").exists()  # only read


def test_migrate_dry_run_then_migrate(state_dir: Path, here: Cli) -> None:
    write_state(state_dir, MAPPING["mappings"], {"github": 235, "jira": {"PROJ": 457}})
    before = snapshot(state_dir)
    rc, out, _ = here("migrate", "--dry-run")
    assert rc == 0 and out.count("would migrate unversioned -> 1.0") == 2
    assert snapshot(state_dir) == before
    rc, out, _ = here("migrate")
    assert rc == 0 and out.count("previous version kept as") == 2
    assert json.loads((state_dir / MAPPING_FILE).read_text())["version"] == "1.0"
    assert (state_dir / (COUNTERS_FILE + ".bak")).read_bytes() == before[COUNTERS_FILE]
    assert "nothing to do" in here("migrate")[1]
    assert here("check")[0] == 0


def test_ordinary_write_keeps_the_version(state_dir: Path, here: Cli) -> None:
    write_state(state_dir, MAPPING["mappings"], {"github": 235})
    assert here("allocate", "TASK-a3f2", "github")[1] == "235\n"
    mapping = json.loads((state_dir / MAPPING_FILE).read_text())
    assert "version" not in mapping and "TASK-a3f2" in mapping
    write_state(state_dir)
    assert here("allocate", "TASK-a3f2", "github")[1] == "235\n"
    assert json.loads((state_dir / MAPPING_FILE).read_text())["version"] == "1.0"


def test_newer_version_refused_byte_identical(state_dir: Path, here: Cli) -> None:
    newer = sample(MAPPING)
    newer["version"] = "1.1"
    write_state(state_dir, newer)
    before = snapshot(state_dir)
    for args in (
        ["allocate", "TASK-a3f2", "github"],
        ["lookup", "TASK-E01-b2c4"],
        ["migrate"],
        ["repair", "--accept-loss"],
        ["init"],
    ):
        rc, out, err = here(*args)
        assert rc == 1 and out == "" and err.count("\n") == 1, args
        assert "newer than this extid" in err and "Traceback" not in err
    assert snapshot(state_dir) == before


def test_repair_restores_and_reconciles(state_dir: Path, here: Cli) -> None:
    write_state(state_dir)
    assert here("allocate", "TASK-a3f2", "github")[1] == "235\n"
    (state_dir / MAPPING_FILE).write_bytes(b"{")
    before = snapshot(state_dir)
    rc, out, err = here("repair")  # `.bak` is one write behind: it lacks github 235
    assert rc == 1 and "github 235" in err and "--accept-loss" in err and err.count("\n") == 1
    assert snapshot(state_dir) == before
    rc, out, err = here("repair", "--accept-loss")
    assert rc == 0 and "restored from" in out and ".corrupt-" in out
    assert "restored from" not in err  # said once, as repair's action
    assert "was corrupt" in out and "nothing to repair" not in out
    assert "lost the task of github 235" in out
    counters = json.loads((state_dir / COUNTERS_FILE).read_text())
    counters["counters"]["github"] = 1
    (state_dir / COUNTERS_FILE).write_text(json.dumps(counters))
    assert here("check")[0] == 1
    rc, out, _ = here("repair")
    assert rc == 0 and "counters raised" in out
    assert here("check")[0] == 0
    assert "nothing to repair" in here("repair")[1]


def test_corrupt_without_source_then_repair_accepting_the_loss(state_dir: Path, here: Cli) -> None:
    write_state(state_dir)
    (state_dir / MAPPING_FILE).write_bytes(b'{"mappings": {"TASK-a3f2": {"github": "900"')
    before = snapshot(state_dir)
    rc, _, err = here("allocate", "TASK-b3f2", "github")
    assert rc == 1 and err.count("\n") == 1 and "repair --accept-loss" in err
    assert snapshot(state_dir) == before
    assert here("repair", "--accept-loss")[0] == 0
    assert here("allocate", "TASK-b3f2", "github")[1] == "901\n"


def test_recovery_from_git_head(tmp_path: Path) -> None:
    state_dir = committed_repo(tmp_path / "repo")
    (state_dir / MAPPING_FILE).write_bytes(b"<<<<<<< ours\n")
    before = snapshot(state_dir)
    result = run_extid("lookup", "TASK-E01-b2c4", cwd=tmp_path / "repo" / ".claude")
    assert result.returncode == 1 and "extid repair" in result.stderr  # a reader only reports
    assert snapshot(state_dir) == before
    result = run_extid("repair", cwd=tmp_path / "repo" / ".claude")
    assert "restored from git HEAD:.claude/state/external_id_mapping.json" in result.stdout
    result = run_extid("lookup", "TASK-E01-b2c4", cwd=tmp_path / "repo" / ".claude")
    assert result.returncode == 0 and "jira: PROJ-456" in result.stdout


def test_guardkit_fixture_through_the_cli(state_dir: Path, here: Cli) -> None:
    state_dir.mkdir()
    for name in (MAPPING_FILE, COUNTERS_FILE):
        shutil.copyfile(GUARDKIT / name, state_dir / name)
    assert here("allocate", "TASK-a3f2", "jira", "--project", "PROJ") == (
        0,
        "PROJ-2\n",
        "",
    )


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["allocate", "TASK-x-y", "github"], 2, "not an internal task ID"),
        (["allocate", "TASK-a3f2", "jira"], 2, "needs a project key"),
        (["allocate", "TASK-a3f2", "trello"], 2, "invalid choice"),
        (["record", "TASK-a3f2", "github", "012"], 2, "leading zeros"),
        (["record", "TASK-b3f2", "jira", "PROJ-456"], 1, "already held by TASK-E01-b2c4"),
        (["reverse", "github", "abc"], 2, "positive integer"),
    ],
)
def test_user_errors_one_line_exit_code_files_intact(
    state_dir: Path, here: Cli, args: list[str], code: int, needle: str
) -> None:
    write_state(state_dir)
    before = snapshot(state_dir)
    rc, out, err = here(*args)
    assert rc == code and out == ""
    assert needle in err and "Traceback" not in err
    if code == 1 or "not an internal" in needle:
        assert err.count("\n") == 1
    assert snapshot(state_dir) == before


def test_default_state_dir_is_the_git_toplevel(tmp_path: Path) -> None:
    state_dir = committed_repo(tmp_path / "repo")
    sub = tmp_path / "repo" / "src"
    sub.mkdir()
    result = run_extid("allocate", "TASK-a3f2", "github", cwd=sub)
    assert result.stdout == "235\n"
    assert "TASK-a3f2" in json.loads((state_dir / MAPPING_FILE).read_text())["mappings"]


def test_env_state_dir_and_refusal_outside_repo(tmp_path: Path) -> None:
    committed_repo(tmp_path / "repo")
    env = {**os.environ, "EXTID_STATE_DIR": str(tmp_path / "elsewhere")}
    result = run_extid("list", cwd=tmp_path / "repo", env=env)
    assert result.returncode == 1 and "outside the git repository" in result.stderr
    for command in (["list"], ["allocate", "TASK-a3f2", "github"], ["init"], ["repair"]):
        result = run_extid("--state-dir", "../x", *command, cwd=tmp_path / "repo")
        assert result.returncode == 1 and "outside the git repository" in result.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "elsewhere").exists()
    env["EXTID_STATE_DIR"] = str(tmp_path / "repo" / "other-state")
    result = run_extid("allocate", "TASK-a3f2", "github", cwd=tmp_path / "repo", env=env)
    assert result.stdout == "1\n"
    assert (tmp_path / "repo" / "other-state" / MAPPING_FILE).exists()


def test_lock_timeout_from_the_cli(state_dir: Path) -> None:
    import subprocess
    import sys

    write_state(state_dir)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from extid.store import Store\n"
            "with Store(sys.argv[1]).lock():\n print('held', flush=True); sys.stdin.readline()",
            str(state_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        env = {**os.environ, "EXTID_LOCK_TIMEOUT": "0.01"}
        result = run_extid(
            "--state-dir", str(state_dir), "allocate", "TASK-a3f2", "github", env=env
        )
    finally:
        holder.communicate("\n", timeout=30)
    assert result.returncode == 1
    assert str(state_dir / ".extid.lock") in result.stderr and result.stderr.count("\n") == 1


# --- the same commands in-process: fast, and measured by coverage without subprocess help ---


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from extid.main import main

    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_every_core_command_in_process(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = str(state_dir)
    assert cli(capsys, "--state-dir", s, "init")[0] == 0
    assert cli(capsys, "--state-dir", s, "allocate", "TASK-a3f2", "jira", "--project", "PROJ") == (
        0,
        "PROJ-1\n",
        "",
    )
    assert cli(capsys, "--state-dir", s, "record", "TASK-a3f2", "github", "#7")[1] == "7\n"
    shown = cli(capsys, "--state-dir", s, "lookup", "TASK-A3F2")[1]  # the IDs, then `created`
    assert re.fullmatch(r"github: 7\njira: PROJ-1\ncreated: \S+Z\n", shown)
    assert json.loads(cli(capsys, "--state-dir", s, "lookup", "TASK-a3f2", "--json")[1])["id"] == (
        "TASK-a3f2"
    )
    assert cli(capsys, "--state-dir", s, "lookup", "TASK-ffff")[0] == 1
    assert cli(capsys, "--state-dir", s, "reverse", "jira", "proj-1")[1] == "TASK-a3f2\n"
    assert cli(capsys, "--state-dir", s, "reverse", "jira", "PROJ-9")[0] == 1
    assert cli(capsys, "--state-dir", s, "list")[1] == "TASK-a3f2  github=7 jira=PROJ-1\n"
    assert "TASK-a3f2" in json.loads(cli(capsys, "--state-dir", s, "list", "--json")[1])
    rc, out, _ = cli(capsys, "--state-dir", s, "new-id", "--kind", "FEAT", "--prefix", "x1")
    assert rc == 0 and out.startswith("FEAT-X1-") and is_internal_id(out.strip())
    with pytest.raises(SystemExit) as usage:  # a usage error: argparse's exit 2
        cli(capsys, "--state-dir", s, "new-id", "--prefix", "!")
    assert usage.value.code == 2
    capsys.readouterr()
    assert cli(capsys, "--state-dir", s, "remove", "TASK-a3f2", "github")[1] == "removed github 7\n"
    assert cli(capsys, "--state-dir", s, "remove", "TASK-a3f2", "github")[0] == 1
    assert "nothing to do" in cli(capsys, "--state-dir", s, "migrate", "--dry-run")[1]
    assert "nothing to repair" in cli(capsys, "--state-dir", s, "repair")[1]


def test_migrate_and_repair_in_process(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = str(state_dir)
    write_state(state_dir, MAPPING["mappings"], {"github": 1})
    assert (
        "would migrate unversioned -> 1.0"
        in cli(capsys, "--state-dir", s, "migrate", "--dry-run")[1]
    )
    assert cli(capsys, "--state-dir", s, "repair")[1].count("counters raised") == 1
    assert "migrated unversioned -> 1.0" in cli(capsys, "--state-dir", s, "migrate")[1]
    (state_dir / MAPPING_FILE).write_bytes(b"{")
    rc, out, err = cli(capsys, "--state-dir", s, "repair")
    assert rc == 0 and "was corrupt" in out and "restored from" in out
    assert "restored from" not in err  # said once, as repair's action
    (state_dir / MAPPING_FILE).write_bytes(b"{")
    (state_dir / (MAPPING_FILE + ".bak")).write_bytes(b"{")
    rc, out, err = cli(capsys, "--state-dir", s, "repair")
    assert rc == 1 and err.startswith("extid: error: ") and "repair --accept-loss" in err
    rc, out, _ = cli(capsys, "--state-dir", s, "repair", "--accept-loss")
    assert rc == 0 and "restored from nothing" in out and "lost every entry" in out
