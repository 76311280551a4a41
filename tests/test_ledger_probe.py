"""A clone whose remote already holds the ledger (issue 12, section 3): `extid install` turns
the remote ledger on by itself, as `git lfs install` finds its server; `--no-remote` keeps it
off; `extid doctor` names a clone that allocates alone beside it, writing nothing.

Real bare remotes in tmp_path; extid runs in process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import InProcess, git
from git_helpers import STATE, extid_in, setup_repo

from extid.mapper import ExternalIDMapper


@pytest.fixture
def bare(tmp_path: Path, in_process: InProcess) -> Path:
    """A remote whose ledger ref exists: a first clone allocated PROJ-1 through it."""
    setup_repo(tmp_path / "seed")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(tmp_path / "seed"), str(bare))
    git(tmp_path, "clone", "-q", str(bare), "first")
    rc, _, err = extid_in(in_process, tmp_path / "first", "install", "--remote", "origin")
    assert rc == 0, err
    assert ExternalIDMapper(tmp_path / "first" / STATE).allocate("TASK-0001", "jira", "PROJ") == (
        "PROJ-1"
    )
    return bare


def clone(tmp_path: Path, bare: Path, name: str = "new") -> Path:
    git(tmp_path, "clone", "-q", str(bare), name)
    return tmp_path / name


def config(repo: Path, key: str) -> str:
    return git(repo, "config", "--get", key, check=False).stdout.strip()


def test_install_turns_the_remote_ledger_on_where_the_remote_has_one(
    tmp_path: Path, bare: Path, in_process: InProcess
) -> None:
    new = clone(tmp_path, bare)
    rc, out, err = extid_in(in_process, new, "install")
    assert rc == 0, err
    said = [line for line in out.splitlines() if line.startswith("remote ledger:")]
    assert said == [
        "remote ledger: on, origin has one (set extid.remote=origin, local): new numbers are "
        "reserved there first; `extid install --no-remote` turns it off"
    ]
    assert config(new, "extid.remote") == "origin"
    # Its files say PROJ-1 is free; the remote ledger says it is taken.
    assert ExternalIDMapper(new / STATE).allocate("TASK-0002", "jira", "PROJ") == "PROJ-2"
    rc, out, _ = extid_in(in_process, new, "install")
    assert rc == 0 and "remote ledger:" not in out  # already on: nothing asked, nothing said


def test_install_no_remote_keeps_it_off_for_good(
    tmp_path: Path, bare: Path, in_process: InProcess
) -> None:
    new = clone(tmp_path, bare)
    rc, out, err = extid_in(in_process, new, "install", "--no-remote")
    assert rc == 0 and "set extid.remoteLedger=off (local)" in out, err
    rc, out, _ = extid_in(in_process, new, "install")
    assert rc == 0 and "remote ledger:" not in out
    assert config(new, "extid.remote") == ""
    rc, out, _ = extid_in(in_process, new, "doctor")
    assert rc == 0 and "ok       remote ledger off (extid install --no-remote)" in out, out
    # --no-remote also turns off a ledger that was on; --remote turns it on again.
    rc, out, _ = extid_in(in_process, tmp_path / "first", "install", "--no-remote")
    assert "unset extid.remote=origin (local): the remote ledger is off" in out
    rc, out, _ = extid_in(in_process, tmp_path / "first", "install", "--remote", "origin")
    assert "unset extid.remoteLedger (local): the remote ledger is on" in out
    rc, _, err = extid_in(in_process, new, "install", "--no-remote", "--remote", "origin")
    assert rc == 2 and "not allowed with argument" in err


def test_install_with_the_remote_out_of_reach_says_so_and_succeeds(
    tmp_path: Path, bare: Path, in_process: InProcess
) -> None:
    new = clone(tmp_path, bare)
    bare.rename(tmp_path / "away.git")
    rc, out, err = extid_in(in_process, new, "install")
    assert rc == 0, err
    said = [line for line in out.splitlines() if line.startswith("remote ledger:")]
    assert len(said) == 1 and said[0].startswith("remote ledger: could not check origin (")
    assert "`extid install --remote origin` turns it on if it has one" in said[0]
    assert "extid installed" in out and config(new, "extid.remote") == ""


def every_byte(root: Path) -> dict[str, bytes | None]:
    """Every file and directory under `root` (directories as None), by relative path."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def test_doctor_names_a_clone_that_allocates_alone_beside_a_ledger_and_writes_nothing(
    tmp_path: Path, bare: Path, in_process: InProcess
) -> None:
    new = clone(tmp_path, bare)
    assert extid_in(in_process, new, "install", "--no-remote")[0] == 0
    git(new, "config", "--unset", "extid.remoteLedger")  # as an install before this one left it
    before = every_byte(tmp_path)
    rc, out, _ = extid_in(in_process, new, "doctor")
    assert rc == 1
    assert (
        "MISSING  remote ledger: origin has one, but this clone allocates from its own files "
        "alone (it can issue numbers other clones reserved there)\n"
        "         fix: extid install --remote origin\n"
    ) in out
    rc, out, _ = extid_in(in_process, new, "doctor", "--json")
    assert rc == 1 and '"fix": "extid install --remote origin"' in out
    assert every_byte(tmp_path) == before


def test_doctor_with_the_remote_out_of_reach_notes_it_and_passes(
    tmp_path: Path, bare: Path, in_process: InProcess
) -> None:
    new = clone(tmp_path, bare)
    assert extid_in(in_process, new, "install", "--no-remote")[0] == 0
    git(new, "config", "--unset", "extid.remoteLedger")
    bare.rename(tmp_path / "away.git")
    before = every_byte(tmp_path)
    rc, out, _ = extid_in(in_process, new, "doctor")
    assert rc == 0, out
    assert "note     remote ledger: could not check origin (" in out and "all set" in out
    assert every_byte(tmp_path) == before


def test_doctor_without_remotes_says_nothing_of_a_remote_ledger(
    repo: Path, in_process: InProcess
) -> None:
    assert extid_in(in_process, repo, "install")[0] == 0
    rc, out, _ = extid_in(in_process, repo, "doctor")
    assert rc == 0 and "remote ledger" not in out


def test_uninstall_says_it_keeps_the_remote_ledgers_setting(
    tmp_path: Path, bare: Path, in_process: InProcess
) -> None:
    rc, out, _ = extid_in(in_process, tmp_path / "first", "uninstall")
    assert rc == 0 and "kept extid.remote=origin (local)" in out
    assert config(tmp_path / "first", "extid.remote") == "origin"


def test_install_remote_creates_the_ledger_ref_for_a_teammates_plain_install(
    tmp_path: Path, in_process: InProcess
) -> None:
    """`extid install --remote origin` on a remote without a ledger creates the ref at once,
    holding the clone's marks: a teammate's plain `extid install` before any allocation finds
    it, and the two clones never print the same number."""
    seed = setup_repo(tmp_path / "seed")
    ExternalIDMapper(seed / STATE).record("TASK-0001", "jira", "PROJ-3")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "PROJ-3")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    rc, out, err = extid_in(in_process, first, "install", "--remote", "origin")
    assert rc == 0, err
    assert "remote ledger: refs/extid/ledger on origin (" in out and ") created at " in out, out
    marks = git(bare, "cat-file", "blob", "refs/extid/ledger:marks.json").stdout
    assert json.loads(marks) == {"jira:PROJ": 3}
    rc, out, err = extid_in(in_process, second, "install")
    assert rc == 0 and "remote ledger: on, origin has one" in out, err
    got = [
        ExternalIDMapper(c / STATE).allocate(f"TASK-00{i}2", "jira", "PROJ")
        for i, c in enumerate([second, first, second])
    ]
    assert got == ["PROJ-4", "PROJ-5", "PROJ-6"]
    rc, out, err = extid_in(in_process, first, "install", "--remote", "origin")
    assert rc == 0 and " at " in out and "created" not in out, err  # there already


def without_ledger(tmp_path: Path) -> Path:
    """A remote with the state files committed and no ledger ref."""
    setup_repo(tmp_path / "seed")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(tmp_path / "seed"), str(bare))
    return bare


def install_remote(in_process: InProcess, where: Path) -> str:
    """`extid install --remote origin`, checked (exit 0, no traceback): its one line on the
    remote ledger."""
    rc, out, err = extid_in(in_process, where, "install", "--remote", "origin")
    assert rc == 0 and "Traceback" not in out + err, err
    said = [line for line in out.splitlines() if line.startswith("remote ledger:")]
    assert len(said) == 1, out
    return said[0]


def test_install_remote_out_of_reach_configures_it_and_leaves_creation_to_allocation(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare = without_ledger(tmp_path)
    new = clone(tmp_path, bare)
    bare.rename(tmp_path / "away.git")
    said = install_remote(in_process, new)
    assert "the first allocation creates the ledger ref" in said
    assert config(new, "extid.remote") == "origin"
    (tmp_path / "away.git").rename(bare)
    assert ExternalIDMapper(new / STATE).allocate("TASK-0002", "jira", "PROJ") == "PROJ-1"
    assert git(bare, "rev-parse", "--verify", "-q", "refs/extid/ledger").stdout.strip()


def test_install_remote_refused_by_the_server_says_why_in_one_line_and_configures_it(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare = without_ledger(tmp_path)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'refs/extid/* is frozen for the audit' >&2\nexit 1\n")
    hook.chmod(0o755)
    new = clone(tmp_path, bare)
    said = install_remote(in_process, new)
    assert "origin refused the update of refs/extid/ledger" in said
    assert "frozen for the audit" in said
    assert config(new, "extid.remote") == "origin"
    assert git(bare, "rev-parse", "--verify", "-q", "refs/extid/ledger", check=False).returncode
