"""Seeding a clone's first ledger: the highest numbers the state files hold at HEAD and at every
ref the clone has (branches, remote-tracking branches, tags, the stash), each distinct version
read once and dropped, so that a fresh clone never re-issues a number some branch already has.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .. import model
from ..document import COUNTERS_FILE, MAPPING_FILE
from ..errors import ExtidError
from .local import highest, marks_of_bytes


def seed(state_dir: Path) -> dict[model.CounterKey, int]:
    """The marks of the state files of `state_dir` at HEAD and at every ref (empty when git
    cannot tell: no work tree, no commit yet)."""
    from .. import git

    cwd = state_dir
    while not cwd.is_dir() and cwd != cwd.parent:
        cwd = cwd.parent
    try:
        top = git.toplevel(cwd)
        if top is None:
            return {}
        rel = git.rel_to(top, state_dir)
        head = git.rev_parse(top, "HEAD")
        revs = list(dict.fromkeys([*([head] if head else []), *git.ref_tips(top)]))
        if not revs:
            return {}
        prefix = "" if rel == "." else rel + "/"
        specs = [f"{rev}:{prefix}{name}" for rev in revs for name in (MAPPING_FILE, COUNTERS_FILE)]
        listing = git.run_git(["cat-file", "--batch-check"], top, input=_lines(specs))
        return highest(*map(marks_of_bytes, blobs(top, distinct_blobs(listing.stdout))))
    except ExtidError:
        return {}


def _lines(items: list[str]) -> bytes:
    return "\n".join(items).encode() + b"\n"


def distinct_blobs(listing: bytes) -> list[str]:
    """The blobs named in `git cat-file --batch-check` output, each once (refs mostly share
    their versions of the state files); a path missing at a ref is skipped."""
    fields = (line.split() for line in listing.splitlines())
    return list(dict.fromkeys(f[0].decode() for f in fields if len(f) == 3 and f[1] == b"blob"))


def blobs(top: Path, oids: list[str]) -> Iterator[bytes]:
    """The contents of `oids`, one at a time from one `git cat-file --batch` (asked for each
    in turn, so neither pipe fills): a caller that drops each holds one blob, not the output
    for every ref (100 refs at 100k entries would be 1.6 GB)."""
    from ..git import absolute_git_env

    env = {**os.environ, **absolute_git_env()}
    try:
        proc = subprocess.Popen(
            ["git", "cat-file", "--batch"], cwd=top, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError as e:
        raise ExtidError(f"cannot run git: {e.strerror or e}") from None
    assert proc.stdin is not None and proc.stdout is not None
    with proc:
        for oid in oids:
            try:
                proc.stdin.write(oid.encode() + b"\n")
                proc.stdin.flush()
            except OSError:  # git is gone: the versions read so far still count
                return
            header = proc.stdout.readline().split()
            if len(header) != 3 or not header[2].isdigit():  # "<oid> missing": gone since
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after the contents
            yield data
        proc.stdin.close()


__all__ = ["blobs", "distinct_blobs", "seed"]
