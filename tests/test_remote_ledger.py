"""The remote ledger (issue 12, section 3): numbers reserved on a real bare repository before
they are issued, across clones and processes, through kills, rollbacks and refusals.

Clones are real `git clone`s of a bare repository in tmp_path (plain path and file:// URLs);
allocations run in process where one process suffices, in children without coverage where
the test is about several processes or a kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import InProcess, git, uncovered_env

from extid.ledger import wire
from extid.ledger.remote import RemoteLedger, message
from extid.mapper import ExternalIDMapper

STATE = Path(".claude") / "state"
# A child allocating argv[3] numbers for its own tasks, printing each as soon as it has it.
CHILD = (
    "import sys\n"
    "from extid.mapper import ExternalIDMapper\n"
    "m = ExternalIDMapper(sys.argv[1])\n"
    "for i in range(int(sys.argv[3])):\n"
    "    print(m.allocate(f'TASK-{sys.argv[2]}-{i:04x}', 'jira', 'PROJ'), flush=True)\n"
)


def make_bare(tmp_path: Path) -> Path:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    return bare


def make_clone(tmp_path: Path, name: str, url: str, in_process: InProcess, *install: str) -> Path:
    """A clone of `url` with the remote ledger turned on (`extid install --remote origin`)."""
    path = tmp_path / name
    if not (tmp_path / "seed").exists():  # the remote needs a commit to clone
        git(tmp_path, "init", "-q", "-b", "main", "seed")
        git(tmp_path / "seed", "commit", "-q", "--allow-empty", "-m", "root")
        git(tmp_path / "seed", "push", "-q", url, "main")
    git(tmp_path, "clone", "-q", url, name)
    cwd = os.getcwd()
    os.chdir(path)
    try:
        proc = in_process("install", "--remote", "origin", *install)
    finally:
        os.chdir(cwd)
    assert proc.returncode == 0, proc.stderr
    assert "set extid.remote=origin (local)" in proc.stdout
    return path


def mapper(clone: Path, offline: bool = False) -> ExternalIDMapper:
    return ExternalIDMapper(clone / STATE, offline=offline)


def remote_marks(bare: Path) -> dict[str, int]:
    out = git(bare, "cat-file", "blob", "refs/extid/ledger:marks.json").stdout
    marks: dict[str, int] = json.loads(out)
    return marks


def pushes(bare: Path, ref: str = "refs/extid/ledger") -> int:
    return int(git(bare, "rev-list", "--count", ref).stdout)


def files(clone: Path) -> dict[str, bytes]:
    """Every byte extid keeps for this clone: the state files and the ledger's state."""
    paths = [*(clone / STATE).glob("*.json"), clone / ".git" / "extid-remote" / "state.json"]
    return {p.name: p.read_bytes() for p in paths if p.exists()}


def held_ids(clones: list[Path]) -> list[str]:
    """Every jira ID the clones' mapping files hold, one per task."""
    return [
        entry["jira"]
        for clone in clones
        for entry in json.loads((clone / STATE / "external_id_mapping.json").read_bytes())[
            "mappings"
        ].values()
    ]


def allocate_cli(in_process: InProcess, clone: Path, task: str, *extra: str) -> tuple[int, str]:
    proc = in_process(
        "--state-dir", str(clone / STATE), "allocate", task, "jira", "--project", "PROJ", *extra
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


# --- the ordinary path ------------------------------------------------------------------------


def test_clones_get_distinct_numbers_and_the_ledger_is_off_branch(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare = make_bare(tmp_path)
    a = make_clone(tmp_path, "a", str(bare), in_process)
    b = make_clone(tmp_path, "b", str(bare), in_process)
    got = [mapper(c).allocate(f"TASK-E01-{i:04x}", "jira", "PROJ") for i, c in enumerate([a, b, a])]
    # Offline, clone b's files alone would have said PROJ-1 and PROJ-2 again.
    assert got == ["PROJ-1", "PROJ-2", "PROJ-3"]
    assert remote_marks(bare) == {"jira:PROJ": 3}
    # One ref for all tools, no branch touched, nothing in the user's refs or objects.
    assert git(bare, "for-each-ref", "--format=%(refname)").stdout.split() == [
        "refs/extid/ledger",
        "refs/heads/main",
    ]
    assert git(a, "for-each-ref", "--format=%(refname)").stdout.split() == [
        "refs/heads/main",
        "refs/remotes/origin/HEAD",
        "refs/remotes/origin/main",
    ]
    assert not (a / ".git" / "shallow").exists()
    assert git(a, "log", "--all", "--oneline").stdout.count("\n") == 1


def test_lease_hands_out_contiguous_numbers_and_other_clones_get_numbers_above(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare = make_bare(tmp_path)
    a = make_clone(tmp_path, "a", f"file://{bare}", in_process, "--lease-size", "5")
    b = make_clone(tmp_path, "b", f"file://{bare}", in_process, "--lease-size", "5")
    installed = pushes(bare)  # the install created the ref
    ma, mb = mapper(a), mapper(b)
    first = [ma.allocate(f"TASK-A1-{i:04x}", "jira", "PROJ") for i in range(2)]
    assert first == ["PROJ-1", "PROJ-2"]
    assert mb.allocate("TASK-B1-0001", "jira", "PROJ") == "PROJ-6"  # above a's lease 1..5
    rest = [ma.allocate(f"TASK-A1-{i:04x}", "jira", "PROJ") for i in range(2, 6)]
    assert rest == ["PROJ-3", "PROJ-4", "PROJ-5", "PROJ-11"]  # b holds 6..10
    assert remote_marks(bare) == {"jira:PROJ": 15}
    # Pushes: one per lease, not one per number.
    assert pushes(bare) - installed == 3


def test_record_raises_the_remote_mark(tmp_path: Path, in_process: InProcess) -> None:
    bare = make_bare(tmp_path)
    a = make_clone(tmp_path, "a", str(bare), in_process)
    b = make_clone(tmp_path, "b", str(bare), in_process)
    assert mapper(a).record("TASK-E01-0001", "jira", "PROJ-50") == "PROJ-50"
    assert remote_marks(bare) == {"jira:PROJ": 50}
    assert mapper(b).allocate("TASK-E01-0002", "jira", "PROJ") == "PROJ-51"


def test_ledger_command_reports_marks_leases_and_lag_and_writes_nothing(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare = make_bare(tmp_path)
    a = make_clone(tmp_path, "a", str(bare), in_process, "--lease-size", "4")
    mapper(a).allocate("TASK-E01-0001", "jira", "PROJ")
    b = make_clone(tmp_path, "b", str(bare), in_process)
    shutil_rmtree(b / ".git" / "extid-remote")  # a fresh clone: nothing of the ledger here yet
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    os.chdir(b)
    proc = in_process("ledger")
    assert proc.returncode == 0, proc.stderr
    assert "refs/extid/ledger on origin" in proc.stdout
    assert "jira:PROJ: remote mark 4, no lease, files' next 1 (lag 4)" in proc.stdout
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    os.chdir(a)
    proc = in_process("ledger")
    assert "jira:PROJ: remote mark 4, leased 2..4, files' next 2 (lag 3)" in proc.stdout


def shutil_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)


# --- the traps ----------------------------------------------------------------------------------


def test_identical_commits_cannot_both_win(tmp_path: Path, in_process: InProcess) -> None:
    """Two processes building the same reservation on the same tip: byte-identical commits
    would both push as "up to date" with exit 0. The nonce makes them differ, so the second
    push is refused as stale, and only the tip's own commit counts as success."""
    bare = make_bare(tmp_path)
    a = make_clone(tmp_path, "a", str(bare), in_process)
    mapper(a).allocate("TASK-E01-0001", "jira", "PROJ")
    ledger = RemoteLedger.configured(a)
    assert ledger is not None
    tip = wire.remote_tip(ledger.repo, ledger.remote)
    assert tip is not None
    marks, parents = {"jira:PROJ": 2}, [tip]
    one = wire.build(ledger.repo, marks, parents, message("jira:PROJ", 2, 2))
    two = wire.build(ledger.repo, marks, parents, message("jira:PROJ", 2, 2))
    assert one != two
    assert wire.push(ledger.repo, ledger.remote, one, tip) is None
    assert wire.push(ledger.repo, ledger.remote, two, tip) == "stale info"
    # Without the nonce the loser's push "succeeds": git exits 0 with "[up to date]".
    same = git(ledger.repo, "push", "--porcelain", f"--force-with-lease=refs/extid/ledger:{tip}",
               str(bare), f"{one}:refs/extid/ledger", check=False)  # fmt: skip
    assert same.returncode == 0 and "[up to date]" in same.stdout


@pytest.mark.parametrize("how", ["forced push to an older tip", "deleted"])
def test_a_rolled_back_or_deleted_ledger_is_refused_then_repaired(
    tmp_path: Path, in_process: InProcess, how: str
) -> None:
    bare = make_bare(tmp_path)
    a = make_clone(tmp_path, "a", str(bare), in_process)
    other = make_clone(tmp_path, "other", str(bare), in_process)
    for i in range(3):
        mapper(a).allocate(f"TASK-E01-{i:04x}", "jira", "PROJ")
    first = git(bare, "rev-list", "--reverse", "refs/extid/ledger").stdout.split()[0]
    if how == "deleted":
        git(a, "push", "-q", str(bare), ":refs/extid/ledger")
    else:  # receive.denyNonFastForwards does not cover refs outside refs/heads/
        git(bare, "config", "receive.denyNonFastForwards", "true")
        private = a / ".git" / "extid-remote" / "ledger.git"
        git(private, "push", "-q", "--force", str(bare), f"{first}:refs/extid/ledger")
    # A clone that never saw the ledger cannot know, but its files keep it above PROJ-3.
    before = files(a)
    rc, out = allocate_cli(in_process, a, "TASK-E01-00ff")
    assert rc == 1 and out.count("\n") == 0, out
    word = "deleted" if how == "deleted" else "rolled back to " + first[:12]
    assert f"refs/extid/ledger on origin was {word}" in out
    assert "extid ledger --repair" in out and "Traceback" not in out
    assert files(a) == before
    os.chdir(a)
    proc = in_process("ledger", "--repair")
    assert proc.returncode == 0 and "repaired at" in proc.stdout, proc.stderr
    assert remote_marks(bare) == {"jira:PROJ": 3}
    assert mapper(a).allocate("TASK-E01-00ff", "jira", "PROJ") == "PROJ-4"
    assert mapper(other).allocate("TASK-E01-00fe", "jira", "PROJ") == "PROJ-5"


def one_number_issued(tmp_path: Path, in_process: InProcess) -> tuple[Path, Path]:
    """(the remote, a clone that allocated PROJ-1 through it)."""
    bare = make_bare(tmp_path)
    a = make_clone(tmp_path, "a", str(bare), in_process)
    mapper(a).allocate("TASK-E01-0001", "jira", "PROJ")
    return bare, a


def refused(in_process: InProcess, clone: Path) -> str:
    """The error of the next allocation, checked: one line, exit 1, not a byte written."""
    before = files(clone)
    rc, out = allocate_cli(in_process, clone, "TASK-E01-0002")
    assert rc == 1 and out.count("\n") == 0, out
    assert "--offline" in out and "Traceback" not in out
    assert files(clone) == before
    return out


def test_unreachable_remote_is_one_line_naming_offline(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare, a = one_number_issued(tmp_path, in_process)
    bare.rename(tmp_path / "gone.git")
    out = refused(in_process, a)
    assert out.startswith("extid: error: remote ledger: cannot reach origin (")
    # git's reason, not the tail of its advice ("and the repository exists.")
    assert "does not appear to be a git repository" in out, out
    assert allocate_cli(in_process, a, "TASK-E01-0002", "--offline") == (0, "PROJ-2")


def test_push_refused_by_a_hook_gives_the_servers_reason(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare, a = one_number_issued(tmp_path, in_process)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'refs/extid/* is frozen for the audit' >&2\nexit 1\n")
    hook.chmod(0o755)
    out = refused(in_process, a)
    assert "origin refused the update of refs/extid/ledger (pre-receive hook declined" in out
    assert "frozen for the audit" in out
    assert remote_marks(bare) == {"jira:PROJ": 1}


# --- processes: contention and kills ----------------------------------------------------------


def test_four_clones_two_processes_each_allocate_unique_numbers(
    tmp_path: Path, in_process: InProcess, without_coverage: None
) -> None:
    bare = make_bare(tmp_path)
    clones = [make_clone(tmp_path, f"c{n}", f"file://{bare}", in_process) for n in range(4)]
    for clone in clones:
        git(clone, "config", "extid.ledgerTimeout", "120")
    per_process = 3
    argvs = [
        [sys.executable, "-c", CHILD, str(clone / STATE), f"P{n}{k}", str(per_process)]
        for n, clone in enumerate(clones)
        for k in range(2)
    ]
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for a in argvs]
    printed = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        printed += out.decode().split()
    assert len(printed) == 8 * per_process
    assert len(set(printed)) == len(printed)  # unique across all clones: nothing to renumber
    assert sorted(printed, key=lambda e: int(e.split("-")[1])) == [
        f"PROJ-{n}" for n in range(1, 8 * per_process + 1)
    ]
    assert remote_marks(bare) == {"jira:PROJ": 8 * per_process}
    on_disk = held_ids(clones)
    assert sorted(on_disk) == sorted(printed)


@pytest.mark.parametrize("landed", [True, False], ids=["push-landed", "push-lost"])
def test_sigkill_during_the_push_never_issues_a_number_twice(
    tmp_path: Path, in_process: InProcess, without_coverage: None, landed: bool
) -> None:
    bare = make_bare(tmp_path)
    a = make_clone(tmp_path, "a", str(bare), in_process)
    b = make_clone(tmp_path, "b", str(bare), in_process)
    hook = bare / "hooks" / "pre-receive"
    # Holds the push in flight (and says so) while the file `slow` exists.
    hook.write_text("#!/bin/sh\nif [ -f slow ]; then touch pushing; sleep 1; fi\nexit 0\n")
    hook.chmod(0o755)
    (bare / "slow").touch()
    created = git(bare, "rev-parse", "refs/extid/ledger").stdout  # by the install
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(a / STATE), "K1", "1"],
        stdout=subprocess.PIPE,
        env=uncovered_env(),
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (bare / "pushing").exists():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    if landed:  # the allocator dies; its git push finishes without it
        child.kill()
    else:  # the allocator, its push and the server side all die
        os.killpg(child.pid, signal.SIGKILL)
    out, _ = child.communicate()
    assert child.returncode == -signal.SIGKILL and out == b""
    deadline = time.monotonic() + 60
    while landed and git(bare, "rev-parse", "refs/extid/ledger").stdout == created:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (bare / "slow").unlink()
    pending = json.loads((a / ".git" / "extid-remote" / "state.json").read_bytes())["pending"]
    assert pending is not None and pending["low"] == 1  # recorded before the push
    got_b = mapper(b).allocate("TASK-B1-0001", "jira", "PROJ")
    got_a = mapper(a).allocate("TASK-K1-0000", "jira", "PROJ")
    assert got_a != got_b
    if landed:  # reclaimed: the killed allocator's number, never printed, is not lost
        assert (got_b, got_a) == ("PROJ-2", "PROJ-1")
    else:
        assert (got_b, got_a) == ("PROJ-1", "PROJ-2")
    state = json.loads((a / ".git" / "extid-remote" / "state.json").read_bytes())
    assert state["pending"] is None


def test_worktrees_share_the_clones_lease_and_a_custom_ref(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare = make_bare(tmp_path)
    a = make_clone(tmp_path, "a", str(bare), in_process, "--lease-size", "5", "--ledger-ref",
                   "refs/ids/ledger")  # fmt: skip
    git(a, "worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"))
    installed = pushes(bare, "refs/ids/ledger")  # the install created the ref
    assert mapper(a).allocate("TASK-E01-0001", "jira", "PROJ") == "PROJ-1"
    # The linked worktree has its own state files (PROJ-1 unseen there) but the same lease.
    assert mapper(tmp_path / "wt").allocate("TASK-E01-0002", "jira", "PROJ") == "PROJ-2"
    assert pushes(bare, "refs/ids/ledger") - installed == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lease-size", "0"], "extid.leaseSize=0: use 1..1000000"),
        (["--ledger-ref", "refs/heads/ledger"], "use a ref outside refs/heads/"),
        (["--remote", "nowhere"], "extid.remote=nowhere: no such remote"),
    ],
)
def test_install_refuses_bad_ledger_settings(
    repo: Path, in_process: InProcess, args: list[str], message: str
) -> None:
    git(repo, "remote", "add", "origin", str(repo))
    os.chdir(repo)
    remote = [] if "--remote" in args else ["--remote", "origin"]
    proc = in_process("install", *remote, *args)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert git(repo, "config", "--get-regexp", "^extid", check=False).stdout == ""


def test_random_sigkills_never_issue_a_number_twice(
    tmp_path: Path, in_process: InProcess, without_coverage: None
) -> None:
    """Allocators in two clones SIGKILLed at random moments (loading, reserving, pushing,
    writing): every number printed or on disk is held by one task only."""
    import random

    bare = make_bare(tmp_path)
    clones = [make_clone(tmp_path, f"c{n}", str(bare), in_process) for n in range(2)]
    rng = random.Random(12)
    printed: list[str] = []
    killed = 0
    for round_ in range(8):
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, str(clone / STATE), f"R{round_}{n}", "3"],
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
            for n, clone in enumerate(clones)
        ]
        time.sleep(rng.uniform(0.2, 1.5))
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                killed += 1
            printed += child.communicate()[0].decode().split()
    printed += [mapper(c).allocate("TASK-Z1-0000", "jira", "PROJ") for c in clones]
    assert killed >= 4 and len(printed) == len(set(printed)), (killed, printed)
    held = held_ids(clones)
    assert len(held) == len(set(held)) and set(printed) <= set(held)


def test_git_daemon_transport(tmp_path: Path, in_process: InProcess) -> None:
    """git:// through `git daemon --enable=receive-pack`, where it starts within two seconds."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bare = make_bare(tmp_path)
    daemon = subprocess.Popen(
        ["git", "daemon", "--export-all", "--enable=receive-pack", "--reuseaddr",
         "--listen=127.0.0.1", f"--port={port}", f"--base-path={tmp_path}", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"git://127.0.0.1:{port}/origin.git"
        deadline = time.monotonic() + 2
        while git(tmp_path, "ls-remote", url, check=False).returncode != 0:
            if time.monotonic() > deadline or daemon.poll() is not None:
                pytest.skip("git daemon did not start")
            time.sleep(0.05)
        a = make_clone(tmp_path, "a", url, in_process)
        b = make_clone(tmp_path, "b", url, in_process)
        got = [mapper(c).allocate(f"TASK-D1-{i:04x}", "jira", "PROJ") for i, c in enumerate([a, b])]
        assert got == ["PROJ-1", "PROJ-2"]
        assert remote_marks(bare) == {"jira:PROJ": 2}
    finally:
        daemon.kill()
        daemon.wait()
