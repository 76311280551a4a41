"""The only module that talks to git.

Cheap questions (toplevel, config, attributes, hooks directory, `git add`, `git merge-file`) run
the git binary directly: a merge driver or hook must start fast, and GitPython costs ~100 ms to
import. Reading index stages and `HEAD:<path>` blobs uses GitPython, imported inside the function
that needs it, so the merge driver's clean path never loads it.

A repository whose git directory lives elsewhere (`GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE` in
the environment, as git itself sets them for hooks) works too: git reads relative values against
the directory it starts in, and extid runs git from the top level, so they are made absolute
against the current directory first.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ExtidError

TYPE_CHECKING = False  # not typing's: see errors.py
if TYPE_CHECKING:
    import git

MERGE_DRIVER_NAME = "extid semantic merge of external ID state"
MERGE_DRIVER_COMMAND = "extid merge-driver %O %A %B %P"
#: Refs git leaves while replaying someone else's commit: the "theirs" of the running operation.
OPERATION_HEADS = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REBASE_HEAD", "REVERT_HEAD")


class GitError(ExtidError):
    """git failed or is not available."""


#: The path variables git reads relative to the directory it starts in.
PATH_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
)


def absolute_git_env() -> dict[str, str]:
    """The git path variables set to relative paths, made absolute against the current
    directory (where the user, or git running a hook, meant them); empty in the usual case."""
    return {
        name: os.path.abspath(value)
        for name in PATH_VARIABLES
        if (value := os.environ.get(name)) and not os.path.isabs(value)
    }


def run_git(
    args: Sequence[str],
    cwd: str | Path | None = None,
    *,
    check: bool = True,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """git `args` in `cwd`; `env` (the whole environment) replaces the usual one, whose
    relative git path variables are made absolute."""
    if env is None:
        fixed = absolute_git_env()
        env = {**os.environ, **fixed} if fixed else None
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input, env=env)
    except OSError as e:
        raise GitError(f"cannot run git: {e.strerror or e}") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]}: {message[-1] if message else f'exit {proc.returncode}'}")
    return proc


def _out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


# --- repository ----------------------------------------------------------------------------


def toplevel(cwd: str | Path | None = None) -> Path | None:
    """The work tree root containing `cwd`, or None outside a work tree."""
    proc = run_git(["rev-parse", "--show-toplevel"], cwd, check=False)
    return Path(_out(proc)) if proc.returncode == 0 and proc.stdout.strip() else None


def require_toplevel(cwd: str | Path | None = None) -> Path:
    top = toplevel(cwd)
    if top is None:
        raise GitError(f"{Path(cwd or '.').resolve()}: not inside a git work tree")
    return top


def rel_to(top: Path, path: str | Path) -> str:
    """`path` relative to the work tree root, with / separators; refuses paths outside it."""
    absolute = Path(os.path.abspath(path))
    try:
        rel = absolute.relative_to(top.resolve())
    except ValueError:
        try:
            rel = absolute.resolve().relative_to(top.resolve())
        except ValueError:
            raise GitError(f"{path}: outside the repository {top}") from None
    return rel.as_posix()


def rev_exists(top: Path, rev: str) -> bool:
    return run_git(["rev-parse", "-q", "--verify", rev], top, check=False).returncode == 0


def show_blob(top: Path, spec: str) -> bytes | None:
    """Contents of `rev:path` (or `:N:path`) via the git binary, None if it does not exist."""
    proc = run_git(["cat-file", "blob", spec], top, check=False)
    return proc.stdout if proc.returncode == 0 else None


def _repo(top: Path) -> git.Repo:
    """The repository whose work tree is `top`, opened with GitPython (imported here: it is slow
    to import and only recovery and `resolve` need it). GitPython honours `GIT_DIR` only when
    given no path, and then runs git from the work tree with the variables as they are: so the
    git directory is passed as the path and the git commands it runs get the absolute values."""
    import git

    fixed = absolute_git_env()
    repo = git.Repo(fixed.get("GIT_DIR") or os.environ.get("GIT_DIR") or top)
    if fixed:
        repo.git.update_environment(**fixed)
    return repo


def head_blob(top: Path, rel_path: str) -> bytes | None:
    """`HEAD:<path>` through GitPython (None when there is no HEAD or no such file)."""
    import git

    try:
        repo = _repo(top)
        blob = repo.head.commit.tree / rel_path
        data: bytes = blob.data_stream.read()
    except (KeyError, ValueError, git.exc.GitError):
        return None
    return data


# --- unmerged index entries ----------------------------------------------------------------


@dataclass(frozen=True)
class Stages:
    """The three versions git keeps of a conflicted path (None: absent at that stage)."""

    path: str  # relative to the top level
    base: bytes | None
    ours: bytes | None
    theirs: bytes | None


def unmerged_paths(top: Path) -> list[str]:
    """Paths (relative to the top level) with unmerged index entries (`git ls-files -u`)."""
    out = run_git(["ls-files", "-u", "-z"], top).stdout
    paths: list[str] = []
    for record in out.split(b"\0"):
        if record:
            path = record.split(b"\t", 1)[1].decode("utf-8", "surrogateescape")
            if path not in paths:
                paths.append(path)
    return paths


def read_stages(top: Path, rel_path: str) -> Stages:
    """Stages :1: :2: :3: of an unmerged path, read with GitPython (from `GIT_INDEX_FILE` when
    set, as git does)."""
    import git

    repo = _repo(top)
    index_file = absolute_git_env().get("GIT_INDEX_FILE") or os.environ.get("GIT_INDEX_FILE")
    index = git.IndexFile(repo, index_file) if index_file else repo.index
    found: dict[int, bytes] = {}
    for stage, blob in index.unmerged_blobs().get(rel_path, []):
        found[stage] = blob.data_stream.read()
    if not found:
        raise GitError(f"{rel_path}: not conflicted in the index (nothing to resolve)")
    return Stages(rel_path, found.get(1), found.get(2), found.get(3))


def add(top: Path, rel_paths: Sequence[str]) -> None:
    if rel_paths:
        run_git(["add", "--", *rel_paths], top)


# --- config --------------------------------------------------------------------------------


def config_get(key: str, cwd: str | Path | None = None, scope: str | None = None) -> str | None:
    """A config value (scope: None for the effective value, or "local"/"global")."""
    args = ["config", *([f"--{scope}"] if scope else []), "--get", key]
    proc = run_git(args, cwd, check=False)
    return _out(proc) if proc.returncode == 0 else None


def config_set(key: str, value: str, cwd: str | Path | None = None, scope: str = "local") -> bool:
    """Set `key` unless it already has `value`; returns whether it changed anything."""
    if config_get(key, cwd, scope) == value:
        return False
    run_git(["config", f"--{scope}", key, value], cwd)
    return True


def check_attr(top: Path, attr: str, rel_paths: Sequence[str]) -> dict[str, str]:
    """The value of a gitattribute for each path ('unspecified' when unset)."""
    out = run_git(["check-attr", "-z", attr, "--", *rel_paths], top).stdout.split(b"\0")
    values: dict[str, str] = {}
    for i in range(0, len(out) - 2, 3):
        values[out[i].decode("utf-8", "surrogateescape")] = out[i + 2].decode()
    return values


def is_ignored(top: Path, rel_path: str) -> bool:
    return (
        run_git(["check-ignore", "-q", "--no-index", "--", rel_path], top, check=False).returncode
        == 0
    )


def hooks_dir(top: Path) -> Path:
    """Where git runs hooks from: core.hooksPath (relative to the top level) or .git/hooks."""
    configured = config_get("core.hooksPath", top)
    if configured:
        path = Path(os.path.expanduser(configured))
        return path if path.is_absolute() else top / path
    return Path(os.path.abspath(top / _out(run_git(["rev-parse", "--git-path", "hooks"], top))))


# --- .gitattributes ------------------------------------------------------------------------


def ensure_attributes(top: Path, patterns: Sequence[str], attr: str = "merge=extid") -> list[str]:
    """Add `<pattern> <attr>` lines to the top-level .gitattributes unless present (appending,
    never duplicating, keeping everything else); returns the lines added."""
    path = top / ".gitattributes"
    text = path.read_text("utf-8") if path.exists() else ""
    have = {tuple(line.split()) for line in text.splitlines()}
    added = [f"{p} {attr}" for p in patterns if (p, attr) not in have]
    if added:
        if text and not text.endswith("\n"):
            text += "\n"
        path.write_text(text + "".join(line + "\n" for line in added), "utf-8")
    return added


# --- merges --------------------------------------------------------------------------------


def line_merge(ours: bytes, base: bytes, theirs: bytes) -> bytes:
    """git's own line merge with standard markers (labels ours/base/theirs): the fallback for a
    side extid cannot parse. Never one side alone: if git cannot run, both sides are marked."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="extid-merge-") as tmp:
        names = []
        for label, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            name = os.path.join(tmp, label)
            with open(name, "wb") as f:
                f.write(data)
            names.append(name)
        try:
            proc = subprocess.run(
                ["git", "merge-file", "-p", "-L", "ours", "-L", "base", "-L", "theirs", *names],
                capture_output=True,
            )
        except OSError:
            proc = None
    if proc is not None and proc.returncode >= 0 and proc.stdout:
        return proc.stdout
    nl = b"" if not ours or ours.endswith(b"\n") else b"\n"
    nt = b"" if not theirs or theirs.endswith(b"\n") else b"\n"
    return b"<<<<<<< ours\n" + ours + nl + b"=======\n" + theirs + nt + b">>>>>>> theirs\n"


def operation_blobs(top: Path, rel_path: str) -> list[bytes]:
    """`rel_path` at HEAD and at the head being merged/picked/rebased (whichever exist): what a
    renumbering must stay above, read while git runs the driver (best effort, git binary)."""
    blobs = []
    for rev in ("HEAD", *OPERATION_HEADS):
        data = show_blob(top, f"{rev}:{rel_path}")
        if data is not None:
            blobs.append(data)
    return blobs
