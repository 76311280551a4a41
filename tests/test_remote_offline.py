"""Numbers issued with `--offline` beside a remote ledger: noted as issued here alone, shown by
`extid ledger`, pushed by `extid ledger --repair` and by the clone's next online operation, so
that once the clone is back in reach the remote learns them and no other clone is given them.

Real bare remotes in tmp_path; extid runs in process.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import InProcess
from git_helpers import extid_in
from test_remote_ledger import STATE, make_bare, make_clone, mapper, remote_marks


def clones(tmp_path: Path, in_process: InProcess, *install: str) -> tuple[Path, Path, Path]:
    bare = make_bare(tmp_path)
    x = make_clone(tmp_path, "x", str(bare), in_process, *install)
    y = make_clone(tmp_path, "y", str(bare), in_process, *install)
    return bare, x, y


def unpushed(clone: Path) -> dict[str, int]:
    state = json.loads((clone / ".git" / "extid-remote" / "state.json").read_bytes())
    noted: dict[str, int] = state["unpushed"]
    return noted


def test_an_offline_allocation_is_shown_and_pushed_by_ledger_repair(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare, x, y = clones(tmp_path, in_process)
    rc, out, err = extid_in(in_process, x, "allocate", "--offline", "TASK-DD01", "github")
    assert (rc, out.strip()) == (0, "1"), err
    assert unpushed(x) == {"github": 1}
    rc, out, err = extid_in(in_process, x, "ledger")
    assert rc == 0, err
    assert "github: remote mark 0, no lease, files' next 2 (lag 0, remote behind by 1)" in out
    assert "issued here while the remote was out of reach: github 1" in out
    rc, out, err = extid_in(in_process, x, "ledger", "--repair")
    assert rc == 0 and "marks raised past what was issued here alone (github 1)" in out, err
    assert remote_marks(bare) == {"github": 1}
    assert unpushed(x) == {}
    rc, out, err = extid_in(in_process, y, "allocate", "TASK-DD02", "github")
    assert (rc, out.strip()) == (0, "2"), err  # not a second 1


def test_the_next_online_allocation_pushes_offline_numbers_with_its_own(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare, x, y = clones(tmp_path, in_process)
    assert mapper(x, offline=True).allocate("TASK-DD01", "github") == "1"
    assert mapper(x, offline=True).allocate("TASK-DD03", "github") == "2"
    assert mapper(x).allocate("TASK-DD04", "jira", "PROJ") == "PROJ-1"  # another counter
    assert remote_marks(bare) == {"github": 2, "jira:PROJ": 1}
    assert unpushed(x) == {}
    assert mapper(y).allocate("TASK-DD02", "github") == "3"


def test_an_allocation_from_the_lease_pushes_offline_numbers_too(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare, x, y = clones(tmp_path, in_process, "--lease-size", "3")
    assert mapper(x).allocate("TASK-DD01", "github") == "1"  # github 2..3 leased to x
    assert mapper(x, offline=True).allocate("TASK-DD02", "jira", "PROJ") == "PROJ-1"
    assert mapper(x).allocate("TASK-DD03", "github") == "2"  # from the lease: no reservation
    assert remote_marks(bare) == {"github": 3, "jira:PROJ": 1}
    assert mapper(y).allocate("TASK-DD04", "jira", "PROJ") == "PROJ-2"


def test_a_lease_allocation_out_of_reach_keeps_offline_numbers_noted(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare, x, y = clones(tmp_path, in_process, "--lease-size", "3")
    assert mapper(x).allocate("TASK-DD01", "github") == "1"
    assert mapper(x, offline=True).allocate("TASK-DD02", "jira", "PROJ") == "PROJ-1"
    bare.rename(tmp_path / "away.git")
    assert mapper(x).allocate("TASK-DD03", "github") == "2"  # the lease still serves it
    assert unpushed(x) == {"jira:PROJ": 1}
    (tmp_path / "away.git").rename(bare)
    assert mapper(x).allocate("TASK-DD05", "github") == "3"
    assert remote_marks(bare) == {"github": 3, "jira:PROJ": 1}
    assert mapper(y).allocate("TASK-DD04", "jira", "PROJ") == "PROJ-2"


def test_an_offline_record_is_pushed_by_the_next_online_operation(
    tmp_path: Path, in_process: InProcess
) -> None:
    bare, x, y = clones(tmp_path, in_process)
    rc, _, err = extid_in(
        in_process, x, "--state-dir", str(x / STATE), "record", "--offline", "TASK-DD01",
        "github", "7",
    )  # fmt: skip
    assert rc == 0, err
    assert unpushed(x) == {"github": 7}
    assert mapper(x).record("TASK-DD02", "jira", "PROJ-4") == "PROJ-4"
    assert remote_marks(bare) == {"github": 7, "jira:PROJ": 4}
    assert mapper(y).allocate("TASK-DD03", "github") == "8"
