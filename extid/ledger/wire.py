"""The remote ledger's git plumbing: a private bare repository in git's common directory that
reads the ledger ref of the remote, builds ledger commits and pushes them as a compare-and-swap.

The private repository keeps the user's repository out of it: no objects, refs, FETCH_HEAD or
shallow file of theirs change. Git is run through `git.run_git` with an environment of its
own (a hook's `GIT_DIR` or `GIT_OBJECT_DIRECTORY` must not point these commands elsewhere).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

from ..errors import ExtidError
from ..git import run_git

MARKS_FILE = "marks.json"
LOCAL_REF = "refs/ledger"
#: Rejections that mean "someone else moved the ref first": fetch again and retry.
CONTENTION = (
    "stale info",
    "fetch first",
    "non-fast-forward",
    "failed to update ref",
    "failed to lock",
    "cannot lock ref",
    "reference already exists",
    "incorrect old value",
)
IDENT = "extid ledger <extid@ledger.invalid>"
#: Variables that would point git at the user's repository instead of the private one.
_REPO_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_QUARANTINE_PATH",
)


class Unreachable(ExtidError):
    """The remote could not be read or written (network, path, authentication)."""


class Refused(ExtidError):
    """The server refused the ledger update for a reason other than a concurrent update."""


class Remote(NamedTuple):
    """Where the ledger lives: the remote's name (for messages), its URLs and the ref."""

    name: str
    fetch_url: str
    push_url: str
    ref: str
    timeout: float | None = None  # seconds per network call (a merge's budget), None: no limit


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_VARIABLES}
    env["GIT_TERMINAL_PROMPT"] = "0"  # a credential prompt would hang under the lock
    return env


def git_in(
    repo: Path, *args: str, input: bytes | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[bytes]:
    """git `args` in the private repository `repo`; never raises for an exit code."""
    return run_git(
        ["--git-dir", str(repo), *args], check=False, input=input, env=_env(), timeout=timeout
    )


def _out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode("utf-8", "replace").strip()


def _reason(proc: subprocess.CompletedProcess[bytes]) -> str:
    """git's reason: its first `fatal:`/`error:` line (for an unreachable remote the last line
    is the tail of its advice, "and the repository exists."), else its last line."""
    lines = [x.strip() for x in proc.stderr.decode("utf-8", "replace").strip().splitlines()]
    for line in lines:
        if line.startswith(("fatal: ", "error: ")):
            return line.partition(": ")[2]
    return lines[-1] if lines else f"git exited with {proc.returncode}"


def ensure_repo(repo: Path) -> None:
    """Create the private bare repository on first use."""
    if (repo / "HEAD").exists():
        return
    proc = run_git(["init", "-q", "--bare", str(repo)], check=False, env=_env())
    if proc.returncode != 0:
        raise ExtidError(f"{repo}: cannot create the ledger's repository ({_reason(proc)})")


def remote_tip(repo: Path, remote: Remote) -> str | None:
    """The ledger ref's commit on the remote (`ls-remote`), None if it does not exist."""
    proc = git_in(repo, "ls-remote", "--refs", remote.fetch_url, remote.ref, timeout=remote.timeout)
    if proc.returncode != 0:
        raise Unreachable(_reason(proc))
    for line in _out(proc).splitlines():
        oid, _, name = line.partition("\t")
        if name == remote.ref:
            return oid
    return None


def has_commit(repo: Path, oid: str) -> bool:
    return git_in(repo, "cat-file", "-e", f"{oid}^{{commit}}").returncode == 0


def fetch(repo: Path, remote: Remote) -> str | None:
    """Fetch the ledger ref into the private repository; its commit (None: no such ref)."""
    refspec = f"+{remote.ref}:{LOCAL_REF}"
    args = ("fetch", "-q", "--no-tags", remote.fetch_url, refspec)
    proc = git_in(repo, *args, timeout=remote.timeout)
    if proc.returncode != 0:
        if "couldn't find remote ref" in proc.stderr.decode("utf-8", "replace"):
            return None
        raise Unreachable(_reason(proc))
    return _out(git_in(repo, "rev-parse", "--verify", "-q", LOCAL_REF)) or None


def is_ancestor(repo: Path, old: str, new: str) -> bool:
    """Whether `new` descends from (or is) `old`; False also when `old` is unknown here."""
    return old == new or git_in(repo, "merge-base", "--is-ancestor", old, new).returncode == 0


def read_marks(repo: Path, commit: str | None) -> dict[str, int]:
    """The high-water marks a ledger commit holds ({} for no commit)."""
    if commit is None:
        return {}
    proc = git_in(repo, "cat-file", "blob", f"{commit}:{MARKS_FILE}")
    try:
        marks = json.loads(proc.stdout) if proc.returncode == 0 else None
    except ValueError:
        marks = None
    if not isinstance(marks, dict) or not all(
        isinstance(k, str) and type(v) is int and v >= 0 for k, v in marks.items()
    ):
        raise ExtidError(
            f"remote ledger commit {commit[:12]} holds no readable {MARKS_FILE}; "
            "is the ledger ref (extid.ledgerRef) used by something else?"
        )
    return marks


def build(repo: Path, marks: dict[str, int], parents: list[str], message: str) -> str:
    """A ledger commit whose tree holds `marks` as one small JSON blob, made by one
    `git fast-import` (blob, tree, commit and `refs/ledger`, which keeps it from gc)."""
    data = json.dumps(marks, sort_keys=True, indent=1).encode() + b"\n"
    text = message.encode()
    when = f"{int(time.time())} +0000"
    stream = b"".join(
        [
            b"blob\nmark :1\ndata %d\n%s\n" % (len(data), data),
            f"reset {LOCAL_REF}\ncommit {LOCAL_REF}\nmark :2\n".encode(),
            f"author {IDENT} {when}\ncommitter {IDENT} {when}\n".encode(),
            b"data %d\n%s\n" % (len(text), text),
            *(f"{'from' if i == 0 else 'merge'} {p}\n".encode() for i, p in enumerate(parents)),
            f"M 100644 :1 {MARKS_FILE}\n\nget-mark :2\n".encode(),
        ]
    )
    # Loose objects, not a pack per commit: `gc --auto` packs them now and then.
    proc = git_in(
        repo, "-c", "fastimport.unpackLimit=100", "fast-import", "--quiet", "--force", input=stream
    )
    if proc.returncode != 0:
        raise ExtidError(f"cannot build a ledger commit: {_reason(proc)}")
    commit = _out(proc)
    if commit.startswith("00"):  # one push in 256: pack the private repository (detached)
        git_in(repo, "gc", "--auto", "--quiet")
    return commit


_PORCELAIN = re.compile(r"^(?P<flag>.)\t(?P<src>[^:]*):(?P<dst>\S+)\t(?P<summary>.*)$")


def push(repo: Path, remote: Remote, commit: str, old: str | None) -> str | None:
    """Push `commit` to the ledger ref if the remote still has `old` there (None: no ref).

    None when the remote's ref is now `commit`; else the reason of a concurrent update (to
    retry). Raises `Refused` for any other rejection, `Unreachable` when nothing was said.
    A commit the remote already has is "up to date" with exit 0 even under a lease: the
    porcelain line is read, and only this (unique) commit counts as success.
    """
    proc = git_in(
        repo,
        "push",
        "--porcelain",
        "--no-verify",
        f"--force-with-lease={remote.ref}:{old or ''}",
        remote.push_url,
        f"{commit}:{remote.ref}",
        timeout=remote.timeout,
    )
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        m = _PORCELAIN.match(line)
        if m is None or m["dst"] != remote.ref:
            continue
        if m["flag"] in " +*=" and proc.returncode == 0:
            return None
        summary = m["summary"]
        reason = summary[summary.find("(") + 1 : summary.rfind(")")] if "(" in summary else summary
        if any(word in summary for word in CONTENTION):
            return reason
        said = [
            s.strip()
            for s in proc.stderr.decode("utf-8", "replace").splitlines()
            if s.startswith("remote:") and s[7:].strip()
        ]
        raise Refused("; ".join([reason, *said]))
    raise Unreachable(_reason(proc))
